"""docker-archive: what `docker save` / `podman save` write and `docker load` reads.

A tar holding `manifest.json` (`[{"Config", "RepoTags", "Layers"}]`), the config JSON and
one tar per layer. Both layouts are read: classic (`<id>/layer.tar`, `<hex>.json`, layer
symlinks for repeated layers) and docker >= 25 (`blobs/sha256/<hex>` beside an OCI
index). Layers may be plain or compressed tars; a plain layer's digest is its diff_id
(verified while streaming), a compressed one is hashed when opened.

The manifest of an image read here is synthesized (Docker schema 2, canonical JSON); the
config bytes are kept, so the image id is docker's. Written archives hold plain layer
tars named `<diff_id hex>.tar` and `<config hex>.json` (podman's names), a
`repositories` file, and are replaced all-or-nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from layerfs.archive._io import HashingReader
from layerfs.archive.compress import detect
from layerfs.archive.layer import BlobLayer
from layerfs.digest import Digest, Hasher
from layerfs.errors import DigestMismatch, InvalidInput, NotFound
from layerfs.oci import mediatypes as mt
from layerfs.oci._json import expect_object, get_list, get_str, get_strs
from layerfs.oci.chain import chain_ids
from layerfs.oci.config import ImageConfig
from layerfs.oci.descriptor import Descriptor
from layerfs.oci.image import Image, Layer
from layerfs.oci.manifest import Manifest
from layerfs.store import names
from layerfs.store.blobs import CHUNK
from layerfs.transports._files import TarFiles, read_small
from layerfs.transports._image import RawImage, encode
from layerfs.transports._sink import TarSink
from layerfs.transports.registry.reference import RegistryRef

MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class ArchiveEntry:
    """One image of a docker-archive's manifest.json."""

    config: str
    repo_tags: tuple[str, ...]
    layers: tuple[str, ...]


def entries(files: TarFiles) -> list[ArchiveEntry]:
    """The parsed manifest.json; InvalidInput naming the bad field."""
    where = MANIFEST_FILE
    try:
        data = json.loads(read_small(files, MANIFEST_FILE))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise InvalidInput(f"{where}: malformed JSON: {e}") from None
    if not isinstance(data, list):
        raise InvalidInput(f"{where}: expected an array")
    out = []
    for i, item in enumerate(data):
        at = f"{where}[{i}]"
        expect_object(item, at)
        layers = get_list(item, "Layers", at, required=True)
        for j, name in enumerate(layers):
            if not isinstance(name, str):
                raise InvalidInput(f"{at}.Layers[{j}]: expected a string")
        out.append(ArchiveEntry(get_str(item, "Config", at), get_strs(item, "RepoTags", at),
                                tuple(layers)))
    return out


def _pick(items: list[ArchiveEntry], ref: str | None, where: str) -> ArchiveEntry:
    if not items:
        raise InvalidInput(f"{where}: {MANIFEST_FILE} lists no image")
    if ref is None:
        if len(items) > 1:
            raise InvalidInput(f"{where}: holds {len(items)} images; name one with :REF or :@N")
        return items[0]
    if ref.startswith("@"):
        try:
            return items[int(ref[1:])]
        except (ValueError, IndexError):
            raise NotFound(f"{where}: no image {ref!r} ({len(items)} images)") from None
    for item in items:
        if any(_same_name(ref, t) for t in item.repo_tags):
            return item
    raise NotFound(f"{where}: no image tagged {ref!r}")


def _same_name(a: str, b: str) -> bool:
    """True when both name the same image (`busybox` = `docker.io/library/busybox:latest`)."""
    try:
        return RegistryRef.parse(a) == RegistryRef.parse(b)
    except InvalidInput:
        return False


def _layer(files: TarFiles, name: str, diff_id: Digest, where: str) -> Layer:
    with files.open(name) as f:
        algo = detect(f.read(8))
    if algo == "none":
        desc = Descriptor(mt.DOCKER_LAYER, diff_id, files.size(name))
    elif algo in ("gzip", "zstd"):
        h = Hasher()
        with files.open(name) as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        desc = Descriptor(mt.layer_type(algo, docker=True), h.digest(), h.size)
    else:
        raise InvalidInput(f"{where}: layer {name}: {algo} layers are not supported")
    return BlobLayer(lambda: files.open(name), desc, diff_id)


def read_entry(files: TarFiles, entry: ArchiveEntry, where: str) -> RawImage:
    """The image of one manifest.json entry (config parsed, layers opened lazily)."""
    raw_config = read_small(files, entry.config)
    config = ImageConfig.parse(raw_config)
    if len(entry.layers) != len(config.diff_ids):
        raise InvalidInput(f"{where}: {len(entry.layers)} layers but the config lists"
                           f" {len(config.diff_ids)} diff_ids")
    layers = [_layer(files, n, d, where) for n, d in zip(entry.layers, config.diff_ids,
                                                          strict=True)]
    manifest = Manifest(
        config=Descriptor(mt.DOCKER_CONFIG, Digest.of_bytes(raw_config), len(raw_config)),
        layers=tuple(Descriptor(lay.media_type(), lay.digest(), lay.size()) for lay in layers),
        media_type=mt.DOCKER_MANIFEST,
    )
    return RawImage(manifest.to_json(), raw_config, layers)


def open_archive(path: str, ref: str | None = None) -> tuple[RawImage, TarFiles]:
    """The image `ref` (a RepoTag or `@N`; None: the only one) and the open archive.

    The caller closes the `TarFiles` once done with the image's layers.
    """
    files = TarFiles(path)
    try:
        entry = _pick(entries(files), ref, f"docker-archive:{path}")
        return read_entry(files, entry, f"docker-archive:{path}"), files
    except BaseException:
        files.close()
        raise


def _plain(layer: Layer, tmpdir: str) -> tuple[BinaryIO, int]:
    """A stream of the layer's tar and its size (spooled when the size is unknown)."""
    size = getattr(layer, "uncompressed_size", None)
    if isinstance(size, int):
        return layer.uncompressed(), size
    if mt.layer_compression(layer.media_type()) == "none":
        return layer.compressed(), layer.size()
    spool = tempfile.TemporaryFile(dir=tmpdir)  # noqa: SIM115 - returned to the caller
    with layer.uncompressed() as src:
        shutil.copyfileobj(src, spool, CHUNK)
    spool.seek(0)
    return spool, os.fstat(spool.fileno()).st_size  # type: ignore[return-value]


def _put_layer(sink: TarSink, layer: Layer, tmpdir: str) -> str:
    diff_id = layer.diff_id()
    name = f"{diff_id.hex}.tar"
    if sink.has(name):
        return name
    stream, size = _plain(layer, tmpdir)
    with stream:
        hashing = HashingReader(stream)
        sink.put(name, hashing, size)  # type: ignore[arg-type]
    if hashing.digest() != diff_id:
        raise DigestMismatch(f"layer {layer.digest()}: tar hashes to {hashing.digest()},"
                             f" the config says {diff_id}")
    return name


def save_archive(path: str, images: Sequence[tuple[Image, Sequence[str]]]) -> None:
    """Write `images` (each with its RepoTags) as one docker-archive at `path`.

    Layers are written uncompressed (what `docker load` and `podman load` read) and each
    verified against its diff_id; `path` is replaced only when everything was written.
    """
    tmpdir = os.path.dirname(os.path.abspath(path))
    manifest: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    with TarSink(path) as sink:
        for image, repo_tags in images:
            enc = encode(image, family="docker")
            config_name = f"{enc.config_digest.hex}.json"
            layer_names = [_put_layer(sink, lay, tmpdir) for lay in image.layers()]
            if not sink.has(config_name):
                sink.put_bytes(config_name, enc.config_bytes)
            tags = [names.normalize(t) for t in repo_tags]
            same = [m for m in manifest if m["Config"] == config_name]
            if same:  # one entry per image, all its names (as docker save writes it)
                same[0]["RepoTags"] += [t for t in tags if t not in same[0]["RepoTags"]]
            else:
                manifest.append({"Config": config_name, "RepoTags": tags,
                                 "Layers": layer_names})
            chains = chain_ids(ImageConfig.parse(enc.config_bytes).diff_ids)
            for t in tags:
                repo, tag = names.split(t)
                if chains:
                    repositories.setdefault(repo, {})[tag] = chains[-1].hex
        sink.put_bytes(MANIFEST_FILE, json.dumps(manifest, separators=(",", ":")).encode())
        sink.put_bytes("repositories", json.dumps(repositories, separators=(",", ":")).encode())
        sink.commit()


def all_images(files: TarFiles, where: str) -> list[tuple[RawImage, list[str]]]:
    """Every image of the archive with its RepoTags (for `load`)."""
    return [(read_entry(files, e, where), list(e.repo_tags)) for e in entries(files)]

