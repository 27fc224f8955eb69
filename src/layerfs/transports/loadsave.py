"""`load` and `save`: archives in and out of the store, the archive kind detected.

A tar with `manifest.json` is a docker-archive (docker >= 25 archives also hold an OCI
index; their manifest.json has the names); one with `oci-layout` and `index.json` but no
manifest.json is an oci-archive. Each image is added with `store.put.add_image`, so a
bad blob or hostile layer leaves the store as it was (images added before it stay).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from layerfs.archive.compress import HEAD_SIZE, decompressed, detect
from layerfs.errors import InvalidInput
from layerfs.oci.image import Image
from layerfs.store import names
from layerfs.store.layers import size_limit
from layerfs.store.put import Note, add_image
from layerfs.store.records import ImageRecord
from layerfs.transports import docker_archive, layout, oci_archive
from layerfs.transports._files import TarFiles

if TYPE_CHECKING:
    from layerfs.store.store import Store

FORMATS = ("docker-archive", "oci-archive")
Wrap = Callable[[Image], Image]
"""Applied to each image before it is copied (e.g. to observe its bytes)."""


def archive_kind(files: TarFiles) -> str:
    """"docker-archive" or "oci-archive"; InvalidInput for any other tar."""
    if files.exists(docker_archive.MANIFEST_FILE):
        return "docker-archive"
    if files.exists(layout.LAYOUT_FILE) and files.exists(layout.INDEX_FILE):
        return "oci-archive"
    raise InvalidInput(f"{files.path}: neither a docker-archive (manifest.json) nor an"
                       " oci-archive (oci-layout + index.json)")


def _oci_images(files: TarFiles, where: str) -> list[tuple[Image, list[str]]]:
    out: list[tuple[Image, list[str]]] = []
    for desc in layout.read_index(files, where).manifests:
        ref = desc.ref_name
        image = layout.image_at(files, desc, None, where)
        # a bare tag ("latest") names no repository: such an image is loaded untagged
        tag = [names.normalize(ref)] if ref and names.is_name(ref) and (
            ":" in ref or "/" in ref) else []
        out.append((image, tag))
    return out


def archive_images(files: TarFiles) -> tuple[str, list[tuple[Image, list[str]]]]:
    """The kind of the archive and every image in it with its names."""
    kind = archive_kind(files)
    where = f"{kind}:{files.path}"
    if kind == "docker-archive":
        found = docker_archive.all_images(files, where)
        return kind, [(img, [t for t in tags if names.is_name(t)]) for img, tags in found]
    return kind, _oci_images(files, where)


@contextlib.contextmanager
def plain_tar(path: str) -> Iterator[str]:
    """`path`, or a temp copy decompressed when it is gzip/zstd/xz/bzip2 (`docker save |
    gzip`, which docker load and podman load accept); the copy is removed on exit."""
    with open(path, "rb") as f:
        algo = detect(f.read(HEAD_SIZE))
    if algo == "none":
        yield path
        return
    with tempfile.NamedTemporaryFile(prefix="layerfs-load-", suffix=".tar") as tmp:
        limit = size_limit(os.path.getsize(path))  # the store's bomb guard
        with decompressed(open(path, "rb"), max_size=limit) as src:
            shutil.copyfileobj(src, tmp, 1 << 20)
        tmp.flush()
        yield tmp.name


def load(store: Store, path: str, wrap: Wrap | None = None, *, keep_privileged: bool = False,
         note: Note | None = None) -> list[tuple[ImageRecord, list[str]]]:
    """Add every image of the archive at `path` (plain or compressed) to the store; each
    record with the names the archive gave it. Privileged bits and xattrs of the layers
    are dropped unless `keep_privileged` (see `add_image`; drops go to `note`)."""
    with plain_tar(path) as tar, TarFiles(tar) as files:
        _, found = archive_images(files)
        return [(add_image(store, wrap(img) if wrap else img, tags,
                           keep_privileged=keep_privileged, note=note), tags)
                for img, tags in found]


def save(store: Store, refs: Sequence[str], path: str, fmt: str = "docker-archive",
         wrap: Wrap | None = None) -> None:
    """Write the store images `refs` as one archive of format `fmt` at `path`."""
    if fmt not in FORMATS:
        raise InvalidInput(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if not refs:
        raise InvalidInput("save: name at least one image")
    chosen: list[tuple[Image, str | None]] = []
    for ref in refs:
        image: Image = store.image(ref)
        chosen.append((wrap(image) if wrap else image,
                       names.normalize(ref) if names.is_name(ref) else None))
    if fmt == "oci-archive":
        oci_archive.save_archive(path, chosen)
    else:
        docker_archive.save_archive(path, [(img, [t] if t else []) for img, t in chosen])
