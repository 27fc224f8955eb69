"""fd-relative file system helpers for the conformance suite.

Paths inside a mount or a layer may be longer than PATH_MAX once the mount point is put in
front of them, so nothing here builds an absolute host path: objects are reached from a
directory fd. Paths of a *mount* are resolved with openat2(RESOLVE_IN_ROOT), i.e. exactly as
a process chrooted at the mount root would resolve them (absolute symlinks stay inside).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from collections.abc import Iterator

PATH_MAX = 4096
SYS_OPENAT2 = 437  # same number on every architecture (unified syscall table)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2): a new fd or OSError with the kernel's errno."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    fd = _libc.syscall(
        SYS_OPENAT2,
        ctypes.c_int(dirfd),
        ctypes.c_char_p(os.fsencode(path)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)
    return int(fd)


def split_union_path(path: str) -> tuple[str, str]:
    """("/a/b", "c") for "/a/b/c"; the parent of a top-level name is "/"."""
    parent, _, name = path.rstrip("/").rpartition("/")
    return (parent or "/"), name


def open_in_root(rootfd: int, path: str, flags: int) -> int:
    """Open `path` (a union path) below `rootfd` with chroot semantics.

    openat2 answers EAGAIN when a rename or mount anywhere raced with a ".." step of a
    scoped lookup (FUSE revalidation moves dentries, so it happens there); the man page's
    advice is to retry, which is done here (a few times, then the EAGAIN is the outcome).
    """
    for _ in range(_EAGAIN_RETRIES):
        try:
            return openat2(rootfd, path or "/", flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
        except BlockingIOError:
            continue
    return openat2(rootfd, path or "/", flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)


_EAGAIN_RETRIES = 16


@contextlib.contextmanager
def parent_fd(rootfd: int, path: str) -> Iterator[tuple[int, str]]:
    """(fd of the parent directory, final name) of a union path, resolved in the root.

    The whole string is first offered to the kernel when it is PATH_MAX long or longer,
    so that such a path fails as it would for a chrooted process (ENAMETOOLONG).
    """
    if len(os.fsencode(path)) >= PATH_MAX:
        with contextlib.suppress(FileNotFoundError):
            os.close(open_in_root(rootfd, path, os.O_PATH | os.O_NOFOLLOW))
    parent, name = split_union_path(path)
    if not name:
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
    fd = open_in_root(rootfd, parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield fd, name
    finally:
        os.close(fd)


@contextlib.contextmanager
def object_fd(dirfd: int, name: str) -> Iterator[int]:
    """An O_PATH fd of `name` in `dirfd`, never following a final symlink."""
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
    try:
        yield fd
    finally:
        os.close(fd)


def magic(fd: int) -> str:
    """The /proc magic link of an fd: path calls through it reach the object itself,
    symlinks included, whatever its real path length."""
    return f"/proc/self/fd/{fd}"


def short_path(path: str, limit: int = 120) -> str:
    """A path as failure messages show it: a deep one with its middle elided."""
    if len(path) <= limit:
        return path
    return f"{path[:limit // 3]}...<{len(path)} bytes>...{path[-limit // 2:]}"


def read_all(fd: int) -> bytes:
    """Read an fd to its end (the fd stays open)."""
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of `data` to `fd`."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def open_dir_path(dirfd: int, relpath: str) -> int:
    """An O_PATH fd of the directory `relpath` below `dirfd`, one component at a time
    (works for paths far longer than PATH_MAX; never follows a symlink)."""
    fd = os.dup(dirfd)
    for comp in (c for c in relpath.split("/") if c):
        try:
            nfd = os.open(comp, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                          dir_fd=fd)
        finally:
            os.close(fd)
        fd = nfd
    return fd


def walk(dirfd: int, prefix: str = "") -> Iterator[tuple[str, int, str, os.stat_result]]:
    """(union-style path "/a/b", parent dir fd, name, lstat) of everything below `dirfd`,
    sorted by name, parents before children; fd-relative, so depth does not matter.
    The parent fd is only valid until the next item."""
    with os.scandir(dirfd) as it:
        names = sorted(de.name for de in it)
    for name in names:
        path = prefix + "/" + name
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
        yield path, dirfd, name, st
        if stat.S_ISDIR(st.st_mode):
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                          dir_fd=dirfd)
            try:
                yield from walk(sub, path)
            finally:
                os.close(sub)


def walk_bottom_up(dirfd: int) -> Iterator[tuple[int, str, bool]]:
    """(parent dir fd, name, is a dir) of everything below `dirfd`, each directory after
    its content (so it may be removed or have its times set last); fd-relative."""
    with os.scandir(dirfd) as it:
        children = [(de.name, de.is_dir(follow_symlinks=False)) for de in it]
    for name, is_dir in children:
        if is_dir:
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                          dir_fd=dirfd)
            try:
                yield from walk_bottom_up(sub)
            finally:
                os.close(sub)
        yield dirfd, name, is_dir


def remove_tree(path: str) -> None:
    """rm -rf that copes with trees deeper than PATH_MAX (fd-relative)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        os.unlink(path)
        return
    try:
        for dirfd, name, is_dir in walk_bottom_up(fd):
            if is_dir:
                os.rmdir(name, dir_fd=dirfd)
            else:
                os.unlink(name, dir_fd=dirfd)
    finally:
        os.close(fd)
    os.rmdir(path)
