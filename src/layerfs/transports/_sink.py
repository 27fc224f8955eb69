"""Writing the files of an image representation: into a directory, or as a tar.

Both sinks are all-or-nothing. `DirSink` writes each file to a temp name, fsyncs and
renames it (an existing blob is kept: content-addressed names never change meaning).
`TarSink` writes `FILE.tmp-<pid>` and renames it over `FILE` only in `commit()`; any
error before (a digest mismatch at the end of a layer stream) removes the temp file.
Tar headers are deterministic: mtime 0, uid/gid 0, mode 0644 (0755 for dirs), PAX.
"""

from __future__ import annotations

import io
import os
import tarfile
from typing import BinaryIO, Protocol

from layerfs.errors import DigestMismatch
from layerfs.store.blobs import CHUNK
from layerfs.transports._files import clean_name


class Sink(Protocol):
    """Named files of a representation being written."""

    def has(self, name: str) -> bool: ...

    def put(self, name: str, stream: BinaryIO, size: int) -> None: ...

    def put_bytes(self, name: str, data: bytes) -> None: ...


def _copy_exact(src: BinaryIO, dst: BinaryIO, size: int, name: str) -> None:
    """Copy `src` to EOF; the stream must hold exactly `size` bytes (EOF is read, so a
    verifying stream gets to check its digest)."""
    left = size
    while chunk := src.read(CHUNK):
        left -= len(chunk)
        if left < 0:
            break
        dst.write(chunk)
    if left != 0:
        raise DigestMismatch(f"{name}: expected {size} bytes, the stream had {size - left}")


class DirSink:
    """Files under `root` (created if missing); each published by fsync + rename."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, exist_ok=True)

    def _path(self, name: str) -> str:
        return os.path.join(self.root, *clean_name(name, self.root).split("/"))

    def has(self, name: str) -> bool:
        return os.path.isfile(self._path(name))

    def _publish(self, name: str, write: object) -> None:
        path = self._path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as out:
                write(out)  # type: ignore[operator]
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def put(self, name: str, stream: BinaryIO, size: int) -> None:
        self._publish(name, lambda out: _copy_exact(stream, out, size, name))

    def put_bytes(self, name: str, data: bytes) -> None:
        self._publish(name, lambda out: out.write(data))


class TarSink:
    """A tar written to `FILE.tmp-<pid>`, renamed to `path` by `commit()`.

    Use as a context manager: leaving with an error (or without `commit()`) removes the
    temp file and leaves `path` as it was.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._tmp = f"{path}.tmp-{os.getpid()}"
        self._file = open(self._tmp, "wb")  # noqa: SIM115 - closed in commit/abort
        self._offset = 0
        self._names: set[str] = set()
        self._dirs: set[str] = set()

    def has(self, name: str) -> bool:
        return clean_name(name, self.path) in self._names

    def _info(self, name: str, size: int, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size = size
        info.type = kind
        info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    def _parents(self, name: str) -> None:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self._dirs:
                self._dirs.add(d)
                self._header(self._info(d, 0, tarfile.DIRTYPE))

    def put(self, name: str, stream: BinaryIO, size: int) -> None:
        name = clean_name(name, self.path)
        self._parents(name)
        self._header(self._info(name, size))
        _copy_exact(stream, self._file, size, name)
        self._pad(size)
        self._names.add(name)

    def _header(self, info: tarfile.TarInfo) -> None:
        # headers written by hand: the data is streamed after them (tarfile would want a
        # file object it reads itself, and newer Pythons refuse a header alone)
        buf = info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")
        self._file.write(buf)
        self._offset += len(buf)

    def _pad(self, size: int) -> None:
        rem = size % tarfile.BLOCKSIZE
        if rem:
            self._file.write(tarfile.NUL * (tarfile.BLOCKSIZE - rem))
        self._offset += size + ((tarfile.BLOCKSIZE - rem) if rem else 0)

    def put_bytes(self, name: str, data: bytes) -> None:
        self.put(name, io.BytesIO(data), len(data))

    def commit(self) -> None:
        end = tarfile.NUL * (2 * tarfile.BLOCKSIZE)  # end of archive, padded to a record
        self._file.write(end)
        self._offset += len(end)
        rem = self._offset % tarfile.RECORDSIZE
        if rem:
            self._file.write(tarfile.NUL * (tarfile.RECORDSIZE - rem))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        if os.path.exists(self._tmp):
            os.unlink(self._tmp)

    def __enter__(self) -> TarSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is not None or not self._file.closed:
            self.abort()
