"""Durable file-system steps: fsync, atomic publish, syncfs, careful removal.

Every write of the store goes temp → fsync → rename (`publish`); directories are
fsynced after an entry appears in or leaves them, so a crash leaves either the old or the
new name, never a half-written one.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import stat
import sys
from collections.abc import Callable

from layerfs.mounts.mountinfo import read_mountinfo

_libc = ctypes.CDLL(None, use_errno=True)


def fsync_dir(path: str) -> None:
    """fsync a directory (makes renames and unlinks inside it durable)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def syncfs(path: str) -> None:
    """Flush the whole file system holding `path` (one syscall for a whole unpacked tree)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc.syncfs(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), path)
    finally:
        os.close(fd)


def publish(tmp: str, final: str) -> None:
    """Rename `tmp` to `final` and fsync the destination directory.

    `tmp` must already be durable (fsynced). For directories, an existing `final` is an
    error (`FileExistsError`); files replace atomically.
    """
    if os.path.isdir(tmp) and not os.path.islink(tmp):
        try:
            os.rename(tmp, final)
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), final) from e
            raise
    else:
        os.replace(tmp, final)
    fsync_dir(os.path.dirname(final))


def mounted_under(path: str) -> list[str]:
    """Mount points at or below `path` in this mount namespace."""
    real = os.path.realpath(path)
    prefix = real.rstrip("/") + "/"
    return [
        m.mount_point
        for m in read_mountinfo()
        if m.mount_point == real or m.mount_point.startswith(prefix)
    ]


def _retry_writable(func: Callable[[str], object], path: str, _exc: object) -> None:
    # A layer may hold read-only directories (mode 0555) that block rmtree as non-root.
    parent = os.path.dirname(path)
    try:
        os.chmod(parent, stat.S_IMODE(os.lstat(parent).st_mode) | 0o700)
        func(path)
    except FileNotFoundError:
        pass


def delete_in_place(path: str) -> None:
    """rmtree `path` under its own name (for a dir whose name a held lock protects)."""
    busy = mounted_under(path)
    if busy:
        raise OSError(errno.EBUSY, f"still mounted: {', '.join(busy)}", path)
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=_retry_writable)
    else:
        shutil.rmtree(path, onerror=_retry_writable)


DELETING = ".deleting-"


def remove_tree(path: str) -> None:
    """Remove a file or a directory tree; a missing path is not an error.

    A directory is first renamed to `.deleting-NAME-PID` in the same parent, so a crash
    mid-way never leaves a half-deleted tree under its real name (the store's recovery
    removes `.deleting-*` leftovers).
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    if mounted_under(path):
        delete_in_place(path)  # raises EBUSY: rmtree would delete what a mount shows
    parent, name = os.path.split(path)
    doomed = path
    if not name.startswith(DELETING):
        doomed = os.path.join(parent, f"{DELETING}{name}-{os.getpid()}")
        os.rename(path, doomed)
        fsync_dir(parent)
    delete_in_place(doomed)
