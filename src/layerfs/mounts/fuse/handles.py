"""Open files and directories of a mount, by the `fh` number given to the kernel.

A `FileHandle` owns one real fd (closed by `release`); a `DirHandle` owns the listing
snapshot taken at its first READDIR, so that READDIR at any offset sees one consistent list (what
readdir(3) over a changing directory may show is up to us; a snapshot is the simplest
answer that never repeats or skips an unchanged name).
"""

from __future__ import annotations

import errno
import itertools
import os
import threading
from dataclasses import dataclass, field

from layerfs.errors import oserror
from layerfs.mounts.fuse.inodes import Inode


@dataclass(eq=False)
class FileHandle:
    """An open regular file: `fd` on the real object `real` (st_dev, st_ino), `backing` if
    the kernel passes reads and writes through to it."""

    fd: int
    node: Inode
    writable: bool
    backing: bool
    real: tuple[int, int]
    #: fds replaced after a copy-up; closed at release (a concurrent read may still use one)
    retired: list[int] = field(default_factory=list)


@dataclass(eq=False)
class DirHandle:
    """An open directory: its packed dirents ("." and ".." first), listed at the first
    READDIR (a listing the kernel serves from its cache never reaches the server)."""

    node: Inode
    dirents: list[bytes] | None = None


class Handles:
    """fh → handle. Thread-safe: READ/WRITE look handles up without the server lock."""

    def __init__(self) -> None:
        self._open: dict[int, FileHandle | DirHandle] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, handle: FileHandle | DirHandle) -> int:
        """Register a handle; returns its fh."""
        with self._lock:
            fh = next(self._ids)
            self._open[fh] = handle
        return fh

    def file(self, fh: int) -> FileHandle:
        """The open file `fh`; EBADF if there is none."""
        handle = self._open.get(fh)
        if not isinstance(handle, FileHandle):
            raise oserror(errno.EBADF)
        return handle

    def dir(self, fh: int) -> DirHandle:
        """The open directory `fh`; EBADF if there is none."""
        handle = self._open.get(fh)
        if not isinstance(handle, DirHandle):
            raise oserror(errno.EBADF)
        return handle

    def pop(self, fh: int) -> FileHandle | DirHandle | None:
        """Remove `fh` (RELEASE/RELEASEDIR); the caller closes what it owned."""
        with self._lock:
            return self._open.pop(fh, None)

    def close_all(self) -> None:
        """Close every real fd still open (shutdown)."""
        with self._lock:
            handles = list(self._open.values())
            self._open.clear()
        for h in handles:
            if isinstance(h, FileHandle):
                for fd in (h.fd, *h.retired):
                    os.close(fd)
