"""Reading the files of an image representation: a directory or a tar of one.

An OCI layout dir, an oci-archive and a docker-archive are all "a few named files"; the
readers above only need `open(name)` and `exists(name)`. Names are relative, '/'-separated
and never leave the root: `..`, absolute names and symlinks pointing outside are refused
(a tar's symlink members, which docker's classic `save` writes for repeated layers, are
followed inside the archive only). Small files (JSON) are read with a size limit.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from typing import BinaryIO, Protocol

from layerfs.errors import InvalidInput, NotFound

MAX_JSON = 4 << 20  # manifests, indexes, configs: containerd's limit for manifests
_MAX_LINKS = 8


class Files(Protocol):
    """Named files of one image representation (read only)."""

    def exists(self, name: str) -> bool: ...

    def open(self, name: str) -> BinaryIO: ...

    def close(self) -> None: ...


def clean_name(name: str, where: str) -> str:
    """`name` normalized (no `./`, no `//`); InvalidInput if absolute or escaping."""
    if not isinstance(name, str) or not name or "\0" in name:
        raise InvalidInput(f"{where}: invalid file name {name!r}")
    norm = posixpath.normpath(name)
    if name.startswith("/") or norm == ".." or norm.startswith("../") or norm == ".":
        raise InvalidInput(f"{where}: file name {name!r} leaves the archive")
    return norm


def read_small(files: Files, name: str, limit: int = MAX_JSON) -> bytes:
    """The whole file `name`, refused (InvalidInput) when larger than `limit` bytes."""
    with files.open(name) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"{name}: larger than the limit of {limit} bytes")
    return data


class DirFiles:
    """The files under a directory; no symlink is followed (O_NOFOLLOW on every part)."""

    def __init__(self, root: str) -> None:
        if not os.path.isdir(root):
            raise NotFound(f"{root}: no such directory")
        self.root = root

    def _open_fd(self, name: str) -> int:
        parts = clean_name(name, self.root).split("/")
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                flags = os.O_RDONLY | os.O_NOFOLLOW | (0 if last else os.O_DIRECTORY)
                nfd = os.open(part, flags, dir_fd=fd)
                os.close(fd)
                fd = nfd
        except FileNotFoundError:
            os.close(fd)
            raise NotFound(f"{os.path.join(self.root, name)}: not found") from None
        except OSError as e:
            os.close(fd)
            raise InvalidInput(f"{os.path.join(self.root, name)}: cannot open: {e}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise InvalidInput(f"{os.path.join(self.root, name)}: not a regular file")
        return fd

    def exists(self, name: str) -> bool:
        try:
            os.close(self._open_fd(name))
        except (NotFound, InvalidInput):
            return False
        return True

    def open(self, name: str) -> BinaryIO:
        return os.fdopen(self._open_fd(name), "rb")

    def close(self) -> None:
        return None


class TarFiles:
    """The regular files of an uncompressed tar, read in place (random access).

    A later member of the same name wins (as extraction would). Symlink and hard-link
    members resolve to other members of the archive, never to the file system.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._tar = tarfile.open(path, "r:")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            raise NotFound(f"{path}: no such file") from None
        except (tarfile.TarError, OSError, ValueError) as e:
            raise InvalidInput(f"{path}: not a tar archive: {e}") from None
        self._members: dict[str, tarfile.TarInfo] = {}
        try:
            for info in self._tar:
                try:
                    self._members[clean_name(info.name, path)] = info
                except InvalidInput:
                    continue  # never addressable: a manifest naming it gets NotFound
        except (tarfile.TarError, OSError, ValueError) as e:
            self._tar.close()
            raise InvalidInput(f"{path}: corrupt tar archive: {e}") from None

    def names(self) -> list[str]:
        return sorted(self._members)

    def _resolve(self, name: str) -> tarfile.TarInfo:
        current = clean_name(name, self.path)
        for _ in range(_MAX_LINKS):
            info = self._members.get(current)
            if info is None:
                raise NotFound(f"{self.path}: no member {name!r}")
            if info.isfile():
                return info
            if info.issym():
                target = posixpath.join(posixpath.dirname(current), info.linkname)
                current = clean_name(target, f"{self.path}: {name}")
            elif info.islnk():
                current = clean_name(info.linkname, f"{self.path}: {name}")
            else:
                raise InvalidInput(f"{self.path}: member {name!r} is not a regular file")
        raise InvalidInput(f"{self.path}: member {name!r}: too many levels of links")

    def exists(self, name: str) -> bool:
        try:
            self._resolve(name)
        except (NotFound, InvalidInput):
            return False
        return True

    def size(self, name: str) -> int:
        return self._resolve(name).size

    def open(self, name: str) -> BinaryIO:
        """A stream of the member (its own file handle, so several can be open at once)."""
        info = self._resolve(name)
        f = open(self.path, "rb")  # noqa: SIM115 - returned to the caller
        return _Section(f, info.offset_data, info.size)  # type: ignore[return-value]

    def close(self) -> None:
        self._tar.close()

    def __enter__(self) -> TarFiles:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class _Section:
    """`size` bytes of `f` from `start` as a read-only stream (closes `f`)."""

    def __init__(self, f: BinaryIO, start: int, size: int) -> None:
        self._f = f
        self._left = size
        f.seek(start)
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > self._left:
            n = self._left
        data = self._f.read(n)
        if len(data) < n:
            raise InvalidInput("tar archive truncated inside a member")
        self._left -= len(data)
        return data

    def readinto(self, b: bytearray | memoryview) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True
        self._f.close()

    def __enter__(self) -> _Section:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
