"""Images read straight from an engine's storage dir, without its daemon.

Two layouts, each read from its own metadata files (never from a daemon socket):

- Docker's overlay2 (`/var/lib/docker`): `image/overlay2/repositories.json` maps names
  to image ids; `image/overlay2/imagedb/content/sha256/<id>` is the config;
  `image/overlay2/layerdb/sha256/<chain id>/{diff,cache-id,size}` name each layer's
  diff_id and its directory `overlay2/<cache-id>/diff`.
- containers-storage, overlay driver (`/var/lib/containers/storage`, podman/buildah):
  `overlay-images/images.json` (names, id, top layer), the config as the big-data file
  `overlay-images/<id>/=<base64 of "sha256:<id>">`, `overlay-layers/layers.json`
  (parent chain, `diff-digest`, `diff-size`) and the content in `overlay/<id>/diff`.

Layer dirs are in the kernel's overlay form. A layer's `uncompressed()` is the tar
regenerated from its dir (`archive.generate.write_tar`: whiteouts become `.wh.` names);
it holds the same members as the engine's original tar but not the same bytes, so its
diff_id is the one the engine recorded and is not re-verified. `compressed()` is that
same plain tar. Metadata files are read with the transports' 4 MiB limit.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from typing import Any, BinaryIO

from layerfs.archive.generate import write_tar
from layerfs.digest import Digest
from layerfs.errors import InvalidInput, NotFound
from layerfs.oci import mediatypes as mt
from layerfs.oci.chain import chain_ids
from layerfs.oci.config import ImageConfig
from layerfs.oci.descriptor import Descriptor
from layerfs.oci.manifest import Manifest
from layerfs.store import names
from layerfs.transports._files import DirFiles, read_small
from layerfs.transports._image import RawImage


class DirLayer:
    """A layer held as an overlay-form directory (implements `Layer`).

    `digest()` = `diff_id()` (the layer is offered uncompressed); `size()` is the size
    the engine recorded for the tar. Each stream is a new temp file the caller closes.
    """

    def __init__(self, diff_dir: str, diff_id: Digest, size: int) -> None:
        if not os.path.isdir(diff_dir):
            raise NotFound(f"{diff_dir}: layer directory missing")
        self.diff_dir = diff_dir
        self._diff_id = diff_id
        self._size = size

    def digest(self) -> Digest:
        return self._diff_id

    def diff_id(self) -> Digest:
        return self._diff_id

    def size(self) -> int:
        return self._size

    def media_type(self) -> str:
        return mt.DOCKER_LAYER

    def compressed(self) -> BinaryIO:
        return self.uncompressed()

    def uncompressed(self) -> BinaryIO:
        out = tempfile.TemporaryFile(prefix="layerfs-engine-")  # noqa: SIM115 - caller closes
        try:
            write_tar(self.diff_dir, out)  # type: ignore[arg-type]
            out.seek(0)
        except BaseException:
            out.close()
            raise
        return out  # type: ignore[return-value]


def _json(path: str) -> Any:
    files = DirFiles(os.path.dirname(path))
    try:
        return json.loads(read_small(files, os.path.basename(path)))
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{path}: malformed JSON: {e}") from None


def _text(path: str) -> str:
    return read_small(DirFiles(os.path.dirname(path)), os.path.basename(path)).decode().strip()


def _image(raw_config: bytes, layers: list[DirLayer]) -> RawImage:
    manifest = Manifest(
        config=Descriptor(mt.DOCKER_CONFIG, Digest.of_bytes(raw_config), len(raw_config)),
        layers=tuple(Descriptor(mt.DOCKER_LAYER, lay.diff_id(), lay.size()) for lay in layers),
        media_type=mt.DOCKER_MANIFEST,
    )
    return RawImage(manifest.to_json(), raw_config, layers)


def _match_id(ids: list[str], ref: str, where: str) -> str | None:
    """The full id `ref` names when it is an id or a unique prefix of one (>= 4 hex)."""
    hexpart = ref.removeprefix("sha256:")
    if len(hexpart) < 4 or any(c not in "0123456789abcdef" for c in hexpart):
        return None
    found = [i for i in ids if i.startswith(hexpart)]
    if len(found) > 1:
        raise InvalidInput(f"{where}: {ref!r} names {len(found)} images")
    return found[0] if found else None


# ---------------------------------------------------------------------- docker overlay2


def open_docker(root: str, ref: str) -> RawImage:
    """The image `ref` (a name such as `busybox[:tag]` or an image id) of the Docker
    storage at `root` (overlay2 driver). NotFound when it is not there."""
    meta = os.path.join(root, "image", "overlay2")
    content = os.path.join(meta, "imagedb", "content", "sha256")
    if not os.path.isdir(content):
        raise NotFound(f"{root}: not a Docker overlay2 storage dir (no {content})")
    image_id = _docker_id(meta, content, ref, root)
    raw_config = read_small(DirFiles(content), image_id)
    config = ImageConfig.parse(raw_config)
    layers = []
    for chain in chain_ids(list(config.diff_ids)):
        db = os.path.join(meta, "layerdb", "sha256", chain.hex)
        cache_id = _text(os.path.join(db, "cache-id"))
        diff_id = Digest.parse(_text(os.path.join(db, "diff")))
        size = int(_text(os.path.join(db, "size")) or 0)
        if "/" in cache_id or cache_id in ("", ".", ".."):
            raise InvalidInput(f"{db}/cache-id: bad value {cache_id!r}")
        layers.append(DirLayer(os.path.join(root, "overlay2", cache_id, "diff"), diff_id, size))
    return _image(raw_config, layers)


def _docker_id(meta: str, content: str, ref: str, root: str) -> str:
    repos_file = os.path.join(meta, "repositories.json")
    repos = _json(repos_file).get("Repositories", {}) if os.path.exists(repos_file) else {}
    wanted = names.normalize(ref) if names.is_name(ref) else None
    for by_ref in repos.values():
        for name, image_id in by_ref.items():
            if name == ref or (wanted is not None and names.is_name(name)
                               and names.normalize(name) == wanted):
                return str(image_id).removeprefix("sha256:")
    found = _match_id(sorted(os.listdir(content)), ref, f"docker-overlay2:{root}")
    if found is None:
        raise NotFound(f"docker-overlay2:{root}: no image {ref!r}")
    return found


# ---------------------------------------------------------------------- containers-storage


def open_containers(root: str, ref: str) -> RawImage:
    """The image `ref` (a name, `localhost/x:tag` or `x`, or an image id) of the
    containers-storage at `root` (overlay driver)."""
    images_file = os.path.join(root, "overlay-images", "images.json")
    if not os.path.exists(images_file):
        raise NotFound(f"{root}: not a containers-storage dir (no {images_file})")
    records = _json(images_file)
    record = _containers_record(records, ref, root)
    image_id = record["id"]
    big = "=" + base64.b64encode(f"sha256:{image_id}".encode()).decode()
    raw_config = read_small(DirFiles(os.path.join(root, "overlay-images", image_id)), big)
    config = ImageConfig.parse(raw_config)
    by_id = {lay["id"]: lay for lay in _json(os.path.join(root, "overlay-layers", "layers.json"))}
    chain: list[dict[str, Any]] = []
    layer_id = record.get("layer")
    while layer_id:
        lay = by_id.get(layer_id)
        if lay is None or len(chain) > len(by_id):
            raise InvalidInput(f"{root}: layer {layer_id} of image {image_id} is not listed")
        chain.append(lay)
        layer_id = lay.get("parent")
    chain.reverse()
    layers = [DirLayer(os.path.join(root, "overlay", lay["id"], "diff"),
                       Digest.parse(lay["diff-digest"]), int(lay.get("diff-size", 0)))
              for lay in chain]
    # a layer that is empty and unrecorded in the config (buildah's base) is kept out
    if len(layers) != len(config.diff_ids):
        wanted = list(config.diff_ids)
        layers = [lay for lay in layers if lay.diff_id() in wanted]
    if [lay.diff_id() for lay in layers] != list(config.diff_ids):
        raise InvalidInput(f"{root}: image {image_id}: its layers do not match its config")
    return _image(raw_config, layers)


def _containers_record(records: Any, ref: str, root: str) -> dict[str, Any]:
    if not isinstance(records, list):
        raise InvalidInput(f"{root}/overlay-images/images.json: expected an array")
    candidates = {ref}
    if names.is_name(ref):
        normal = names.normalize(ref)
        candidates |= {normal, "localhost/" + ref, "localhost/" + ref + ":latest", ref + ":latest"}
    for rec in records:
        if candidates & set(rec.get("names") or ()):
            return rec
    found = _match_id([r["id"] for r in records], ref, f"containers-storage:{root}")
    if found is None:
        raise NotFound(f"containers-storage:[{root}]: no image {ref!r}")
    return next(r for r in records if r["id"] == found)
