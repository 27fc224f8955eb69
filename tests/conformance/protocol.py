"""The protocol every union front end implements, and the file operations they share.

`FrontEnd` operations take union paths ("/a/b") and raise `OSError` with the errno they
failed with; `harness.apply` turns each call into an `Outcome` (a result or an errno).
Semantics shared by every front end, so that the same call means the same thing:

- the final component is not followed (O_NOFOLLOW on every open; chmod, chown, utime and
  xattr calls act on the object itself, a symlink included), except by `truncate` and
  `listdir`, which follow it as truncate(2) and opendir(3) do;
- every symlink that is followed is resolved inside the union, as for a process chrooted
  at the mount root (an absolute target starts at the union root);
- every open also carries O_NONBLOCK so that a FIFO never blocks the suite.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

from .fsutil import read_all, write_all
from .layers import Dirs

NOFOLLOW = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | NOFOLLOW
APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | NOFOLLOW
READ_FLAGS = os.O_RDONLY | NOFOLLOW


@dataclass(frozen=True)
class Options:
    """Mount options every front end is given the same way."""

    redirect_dir: bool = False


class FrontEnd(Protocol):
    """One union, reached by union paths. Every method raises OSError on failure."""

    name: str
    dirs: Dirs

    def write_file(self, path: str, data: bytes, mode: int) -> None: ...
    def append(self, path: str, data: bytes) -> None: ...
    def truncate(self, path: str, length: int) -> None: ...
    def mkdir(self, path: str, mode: int) -> None: ...
    def symlink(self, target: str, path: str) -> None: ...
    def mkfifo(self, path: str, mode: int) -> None: ...
    def unlink(self, path: str) -> None: ...
    def rmdir(self, path: str) -> None: ...
    def rename(self, old: str, new: str) -> None: ...
    def link(self, existing: str, new: str) -> None: ...
    def chmod(self, path: str, mode: int) -> None: ...
    def chown(self, path: str, uid: int, gid: int) -> None: ...
    def utime(self, path: str, ns: tuple[int, int]) -> None: ...
    def setxattr(self, path: str, name: str, value: bytes) -> None: ...
    def removexattr(self, path: str, name: str) -> None: ...
    def read(self, path: str) -> bytes: ...
    def listdir(self, path: str) -> list[tuple[str, str]]:
        """(name, kind) pairs, kind one of "d", "f", "l", "o" (d_type), any order."""
        ...
    def lstat(self, path: str) -> os.stat_result: ...
    def readlink(self, path: str) -> str: ...
    def listxattr(self, path: str) -> list[str]: ...
    def getxattr(self, path: str, name: str) -> bytes: ...
    def remount(self) -> None:
        """Drop every cached state and see the same dirs afresh (umount + mount)."""
        ...
    def close(self) -> None:
        """Release the union (umount, lazily if busy). Idempotent."""
        ...


class OpenBased:
    """write_file, append and read of a front end, built on its `_open` (an fd or OSError)."""

    def _open(self, path: str, flags: int, mode: int = 0o666) -> int:
        raise NotImplementedError

    def _write(self, path: str, flags: int, data: bytes, mode: int = 0o666) -> None:
        fd = self._open(path, flags, mode)
        try:
            write_all(fd, data)
        finally:
            os.close(fd)

    def write_file(self, path: str, data: bytes, mode: int) -> None:
        self._write(path, WRITE_FLAGS, data, mode)

    def append(self, path: str, data: bytes) -> None:
        self._write(path, APPEND_FLAGS, data)

    def read(self, path: str) -> bytes:
        fd = self._open(path, READ_FLAGS)
        try:
            return read_all(fd)
        finally:
            os.close(fd)
