"""The OCI image layout (image-spec image-layout.md): `oci-layout`, `index.json`,
`blobs/sha256/<hex>`; read from any `Files`, written to any `Sink`.

Tags are the `org.opencontainers.image.ref.name` annotation of index entries (skopeo's
`oci:DIR:TAG`). Reading verifies every blob against its descriptor (size and digest);
writing puts the blobs first and the index last, so a reader never sees an entry whose
blobs are missing. Writers emit OCI media types (as skopeo does); the config bytes and
so the image id are kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from layerfs.digest import Digest
from layerfs.errors import InvalidInput, NotFound
from layerfs.oci import mediatypes as mt
from layerfs.oci.config import ImageConfig
from layerfs.oci.descriptor import ANNOTATION_REF_NAME, Descriptor
from layerfs.oci.image import Image
from layerfs.oci.index import Index
from layerfs.oci.manifest import Manifest
from layerfs.oci.platform import Platform
from layerfs.transports._files import MAX_JSON, DirFiles, Files, read_small
from layerfs.transports._image import Opener, RawImage, check_config, encode, layers_of
from layerfs.transports._sink import DirSink, Sink

LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
LAYOUT_JSON = json.dumps({"imageLayoutVersion": mt.OCI_LAYOUT_VERSION}).encode()


def blob_name(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex}"


def read_json_blob(files: Files, desc: Descriptor, where: str) -> bytes:
    """A small blob (manifest, index, config), refused when its size or digest is wrong."""
    if desc.size > MAX_JSON:
        raise InvalidInput(f"{where}: {desc.size} bytes is over the limit of {MAX_JSON}")
    try:
        data = read_small(files, blob_name(desc.digest), desc.size)
    except InvalidInput as e:
        raise InvalidInput(f"{where} {desc.digest}: {e}") from None
    desc.digest.verify(data, f"{where} {desc.digest}")
    return data


def read_index(files: Files, where: str) -> Index:
    if not files.exists(LAYOUT_FILE):
        raise InvalidInput(f"{where}: not an OCI layout (no {LAYOUT_FILE} file)")
    return Index.parse(read_small(files, INDEX_FILE))


def tags(files: Files, where: str) -> list[str]:
    """The tags (ref names) of a layout, in index order."""
    return [m.ref_name for m in read_index(files, where).manifests if m.ref_name]


def _pick(index: Index, tag: str | None, platform: Platform | None, where: str) -> Descriptor:
    if tag:
        try:
            return index.by_ref_name(tag)
        except NotFound:
            have = ", ".join(m.ref_name for m in index.manifests if m.ref_name) or "none"
            raise NotFound(f"{where}: no image tagged {tag!r} (tags: {have})") from None
    if len(index.manifests) == 1:
        return index.manifests[0]
    if index.manifests and all(m.platform for m in index.manifests):
        return index.select(platform)
    raise InvalidInput(
        f"{where}: holds {len(index.manifests)} images; name one with :TAG"
        f" (tags: {', '.join(m.ref_name or '?' for m in index.manifests)})"
    )


def read_image(files: Files, tag: str | None = None, platform: Platform | None = None,
               where: str = "layout") -> RawImage:
    """The image tagged `tag` (or the only one) of the layout in `files`.

    A nested index is resolved for `platform` (default: this host). Blobs are read
    lazily for layers (verified while streaming) and now for manifest and config.
    """
    return image_at(files, _pick(read_index(files, where), tag, platform, where), platform, where)


def image_at(files: Files, desc: Descriptor, platform: Platform | None = None,
             where: str = "layout") -> RawImage:
    """The image an index entry `desc` names (a nested index resolved for `platform`)."""
    for _ in range(4):  # an index may point at an index; bounded, a loop is hostile
        if desc.media_type not in mt.INDEXES:
            break
        desc = Index.parse(read_json_blob(files, desc, f"{where}: index")).select(platform)
    if desc.media_type not in mt.MANIFESTS:
        raise InvalidInput(f"{where}: index entry {desc.digest} is a {desc.media_type!r}")
    raw_manifest = read_json_blob(files, desc, f"{where}: manifest")
    manifest = Manifest.parse(raw_manifest)
    raw_config = read_json_blob(files, manifest.config, f"{where}: config")
    check_config(raw_config, manifest.config, where)
    config = ImageConfig.parse(raw_config)

    def opener(d: Descriptor) -> Opener:
        return lambda: files.open(blob_name(d.digest))

    return RawImage(raw_manifest, raw_config, layers_of(manifest, config, opener, where))


def open_dir(path: str, tag: str | None = None, platform: Platform | None = None) -> RawImage:
    """The image of the layout directory `path` (`oci:DIR[:TAG]`)."""
    return read_image(DirFiles(path), tag, platform, f"oci:{path}")


def write_blobs(sink: Sink, image: Image, tag: str | None) -> Descriptor:
    """Put the layers, config and manifest of `image` into `sink`; its index entry.

    Blobs already in the sink are not written again.
    """
    enc = encode(image, family="oci")
    for desc, layer in zip(enc.manifest.layers, image.layers(), strict=True):
        name = blob_name(desc.digest)
        if not sink.has(name):
            with layer.compressed() as stream:
                sink.put(name, stream, desc.size)
    for data in (enc.config_bytes, enc.manifest_bytes):
        name = blob_name(Digest.of_bytes(data))
        if not sink.has(name):
            sink.put_bytes(name, data)
    annotations = {ANNOTATION_REF_NAME: tag} if tag else None
    return Descriptor(enc.manifest.media_type, Digest.of_bytes(enc.manifest_bytes),
                      len(enc.manifest_bytes), annotations)


def merged_index(old: Iterable[Descriptor], new: Sequence[Descriptor]) -> Index:
    """`old` entries minus those whose tag (or untagged digest) a `new` entry takes."""
    taken = {d.ref_name for d in new if d.ref_name}
    untagged = {d.digest for d in new if not d.ref_name}
    kept = [d for d in old
            if not (d.ref_name in taken or (not d.ref_name and d.digest in untagged))]
    return Index((*kept, *new))


def write_index(sink: Sink, entries: Sequence[Descriptor], old: Iterable[Descriptor] = ()) -> None:
    """Write `oci-layout` and `index.json` (after the blobs)."""
    sink.put_bytes(LAYOUT_FILE, LAYOUT_JSON)
    sink.put_bytes(INDEX_FILE, merged_index(old, entries).to_json())


def save_dir(path: str, image: Image, tag: str | None = None) -> Descriptor:
    """Write `image` into the layout dir `path` (created or added to) as `tag`.

    An existing entry with the same tag is replaced; other entries stay. Returns the
    manifest's descriptor.
    """
    sink = DirSink(path)
    files = DirFiles(path)
    old = read_index(files, f"oci:{path}").manifests if files.exists(INDEX_FILE) else ()
    desc = write_blobs(sink, image, tag)
    write_index(sink, [desc], old)
    return desc
