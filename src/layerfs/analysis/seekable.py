"""Plain layer tars inside a docker-archive, opened as seekable windows of the archive.

Analysis needs tar headers only. When a layer is an uncompressed tar stored in a local
docker-archive (what `docker save`, `podman save` and `layerfs save` write), its headers
can be read by seeking over the file data instead of streaming every byte through the
digest check: 50,000 headers are 25 MB of reads instead of the whole image.

The price is stated, not hidden: a layer read this way is listed as the archive holds
it and its diff_id is NOT verified (nothing is extracted or trusted beyond the report).
`layer_windows` returns None wherever this does not apply (compressed layers, links
out of the archive, an image not found in manifest.json), and callers then stream
`Layer.uncompressed()`, verified, as usual.
"""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
from collections.abc import Callable
from typing import BinaryIO

from layerfs.digest import Digest
from layerfs.oci.config import ImageConfig
from layerfs.oci.image import Image, Layer
from layerfs.oci.manifest import Manifest

_MAX_JSON = 4 << 20
_MAX_LINKS = 8


class Window(io.RawIOBase):
    """Bytes [start, start+size) of a file, read-only and seekable (closes the file)."""

    def __init__(self, path: str, start: int, size: int) -> None:
        self._f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        self._start, self._size, self._pos = start, size, 0
        self._f.seek(start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(b), self._size - self._pos)
        if n <= 0:
            return 0
        got = self._f.readinto(memoryview(b)[:n]) or 0  # the file stays at start + pos
        self._pos += got
        return got

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, min(self._size, base + offset))
        self._f.seek(self._start + self._pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._f.close()
        super().close()


def _resolve(members: dict[str, tarfile.TarInfo], name: str) -> tarfile.TarInfo | None:
    current = posixpath.normpath(name)
    for _ in range(_MAX_LINKS):
        info = members.get(current)
        if info is None or current.startswith(("/", "../")):
            return None
        if info.isfile():
            return info
        if info.issym():
            current = posixpath.normpath(posixpath.join(posixpath.dirname(current),
                                                        info.linkname))
        elif info.islnk():
            current = posixpath.normpath(info.linkname)
        else:
            return None
    return None


def _is_plain_tar(path: str, info: tarfile.TarInfo) -> bool:
    with Window(path, info.offset_data, min(info.size, 512)) as w:
        head = w.read(512)
    return len(head) == 512 and head[257:262] == b"ustar"


def layer_windows(path: str, image: Image) -> list[Callable[[], BinaryIO] | None] | None:
    """For each layer of `image` (read from the docker-archive at `path`), an opener of
    its plain tar as a seekable `Window`, or None for a layer that is not a plain tar.
    None when the archive's manifest.json does not list this image."""
    try:
        with tarfile.open(path, "r:") as tar:
            members = {posixpath.normpath(m.name): m for m in tar.getmembers()}
            manifest = _resolve(members, "manifest.json")
            if manifest is None or manifest.size > _MAX_JSON:
                return None
            entries = json.loads(tar.extractfile(manifest).read())  # type: ignore[union-attr]
            want = image.manifest().config.digest
            for entry in entries:
                config = _resolve(members, str(entry.get("Config", "")))
                if config is None or config.size > _MAX_JSON:
                    continue
                raw = tar.extractfile(config).read()  # type: ignore[union-attr]
                if Digest.of_bytes(raw) == want:
                    return [_opener(path, members, str(n)) for n in entry.get("Layers", [])]
    except (OSError, tarfile.TarError, ValueError, AttributeError, TypeError):
        return None
    return None


def _opener(path: str, members: dict[str, tarfile.TarInfo], name: str
            ) -> Callable[[], BinaryIO] | None:
    info = _resolve(members, name)
    if info is None or not _is_plain_tar(path, info):
        return None
    start, size = info.offset_data, info.size
    return lambda: io.BufferedReader(Window(path, start, size), 1 << 16)  # type: ignore[return-value]


class WindowLayer:
    """A `Layer` of a docker-archive (all calls delegated) that can also open its plain
    tar as a seekable stream for header-only listing (`open_headers`, unverified)."""

    def __init__(self, layer: Layer, opener: Callable[[], BinaryIO]) -> None:
        self._layer = layer
        self.open_headers = opener

    def __getattr__(self, name: str) -> object:  # a representation's extras
        return getattr(self._layer, name)

    def digest(self) -> Digest:
        return self._layer.digest()

    def diff_id(self) -> Digest:
        return self._layer.diff_id()

    def size(self) -> int:
        return self._layer.size()

    def media_type(self) -> str:
        return self._layer.media_type()

    def compressed(self) -> BinaryIO:
        return self._layer.compressed()

    def uncompressed(self) -> BinaryIO:
        return self._layer.uncompressed()


class WindowImage:
    """`image` with its plain layers replaced by `WindowLayer`s (an `Image`)."""

    def __init__(self, image: Image, openers: list[Callable[[], BinaryIO] | None]) -> None:
        self._image = image
        self._openers = openers

    def __getattr__(self, name: str) -> object:  # raw_manifest / raw_config
        return getattr(self._image, name)

    def manifest(self) -> Manifest:
        return self._image.manifest()

    def config(self) -> ImageConfig:
        return self._image.config()

    def digest(self) -> Digest:
        return self._image.digest()

    def layers(self) -> list[Layer]:
        layers = self._image.layers()
        if len(layers) != len(self._openers):
            return layers
        return [layer if op is None else WindowLayer(layer, op)
                for layer, op in zip(layers, self._openers, strict=True)]


def with_windows(path: str, image: Image) -> Image:
    """`image` (read from the docker-archive `path`) able to list its plain layers by
    seeking; `image` itself when that does not apply."""
    openers = layer_windows(path, image)
    return image if openers is None else WindowImage(image, openers)
