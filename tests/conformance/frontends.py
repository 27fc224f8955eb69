"""Union front ends behind one small protocol, and the registry the suite is parametrised over.

`FrontEnd` operations take union paths ("/a/b") and raise `OSError` with the errno they
failed with; `harness.apply` turns each call into an `Outcome` (a result or an errno).
Semantics shared by every front end, so that the same call means the same thing:

- the final component is not followed (O_NOFOLLOW on every open; chmod, chown, utime and
  xattr calls act on the object itself, a symlink included), except by `truncate` and
  `listdir`, which follow it as truncate(2) and opendir(3) do;
- every symlink that is followed is resolved inside the union, as for a process chrooted
  at the mount root (an absolute target starts at the union root);
- every open also carries O_NONBLOCK so that a FIFO never blocks the suite.

Front ends (`FACTORIES`): "kernel" (the reference: a kernel overlay mount),
"library" (`layerfs.union.UnionView`) and "fuse" (the FUSE server, `layerfs.mounts.fuse`).
A front end whose code is not there yet reports why through `unavailable(name)`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from layerfs.mounts.mount import Mount

from .fsutil import (
    magic,
    open_in_root,
    parent_fd,
    read_all,
    write_all,
)
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


# --------------------------------------------------------------------------- shared


class _OpenBased:
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


# --------------------------------------------------------------------------- library


class LibraryFrontEnd(_OpenBased):
    """`layerfs.union.UnionView` over the dirs; remount builds a new view."""

    name = "library"

    def __init__(self, dirs: Dirs, options: Options) -> None:
        self.dirs = dirs
        self._options = options
        self._view = self._new_view()

    def _new_view(self) -> Any:
        union = importlib.import_module("layerfs.union")
        return union.UnionView(
            list(self.dirs.lowerdirs), self.dirs.upperdir, self.dirs.workdir,
            redirect_dir=self._options.redirect_dir,
        )

    def _open(self, path: str, flags: int, mode: int = 0o666) -> int:
        return self._view.open(path, flags, mode)  # type: ignore[no-any-return]

    def truncate(self, path: str, length: int) -> None:
        self._view.truncate(path, length)

    def mkdir(self, path: str, mode: int) -> None:
        self._view.mkdir(path, mode)

    def symlink(self, target: str, path: str) -> None:
        self._view.symlink(target, path)

    def mkfifo(self, path: str, mode: int) -> None:
        import stat

        self._view.mknod(path, stat.S_IFIFO | mode, 0)

    def unlink(self, path: str) -> None:
        self._view.unlink(path)

    def rmdir(self, path: str) -> None:
        self._view.rmdir(path)

    def rename(self, old: str, new: str) -> None:
        self._view.rename(old, new)

    def link(self, existing: str, new: str) -> None:
        self._view.link(existing, new)

    def chmod(self, path: str, mode: int) -> None:
        self._view.chmod(path, mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        self._view.chown(path, uid, gid)

    def utime(self, path: str, ns: tuple[int, int]) -> None:
        self._view.utimens(path, ns=ns)

    def setxattr(self, path: str, name: str, value: bytes) -> None:
        self._view.setxattr(path, name, value)

    def removexattr(self, path: str, name: str) -> None:
        self._view.removexattr(path, name)

    def listdir(self, path: str) -> list[tuple[str, str]]:
        return [(e.name, _LIB_KINDS[e.kind.value]) for e in self._view.readdir(path)]

    def lstat(self, path: str) -> os.stat_result:
        return self._view.lstat(path)  # type: ignore[no-any-return]

    def readlink(self, path: str) -> str:
        return self._view.readlink(path)  # type: ignore[no-any-return]

    def listxattr(self, path: str) -> list[str]:
        return list(self._view.listxattr(path))

    def getxattr(self, path: str, name: str) -> bytes:
        return self._view.getxattr(path, name)  # type: ignore[no-any-return]

    def remount(self) -> None:
        self._close_view()
        self._view = self._new_view()

    def close(self) -> None:
        self._close_view()

    def _close_view(self) -> None:
        closer = getattr(self._view, "close", None)
        if closer is not None:
            closer()


_LIB_KINDS = {"dir": "d", "file": "f", "symlink": "l", "special": "o"}


# --------------------------------------------------------------------------- mounts


@dataclass(frozen=True)
class Mounter:
    """How one kind of mount is made and removed."""

    mount: Callable[[Mount, str], None]
    umount: Callable[[str], None]


class MountFrontEnd(_OpenBased):
    """A real mount (kernel overlay or FUSE) at `merged`, reached fd-relative from its root."""

    def __init__(self, name: str, dirs: Dirs, mount: Mount, mounter: Mounter,
                 merged: str) -> None:
        self.name = name
        self.dirs = dirs
        self._mount = mount
        self._mounter = mounter
        self._merged = merged
        self._root = -1
        self._mounted = False
        self._attach()

    def _attach(self) -> None:
        self._mounter.mount(self._mount, self._merged)
        self._mounted = True
        self._root = os.open(self._merged, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def _detach(self) -> None:
        if self._root >= 0:
            os.close(self._root)
            self._root = -1
        if self._mounted:
            self._mounted = False
            try:
                self._mounter.umount(self._merged)
            except OSError:
                lazy_umount(self._merged)

    @contextlib.contextmanager
    def _object(self, path: str, follow: bool = False) -> Iterator[int]:
        """An O_PATH fd of the object at `path` (of a final symlink itself unless `follow`)."""
        fd = open_in_root(self._root, path, os.O_PATH | (0 if follow else os.O_NOFOLLOW))
        try:
            yield fd
        finally:
            os.close(fd)

    def _open(self, path: str, flags: int, mode: int = 0o666) -> int:
        with parent_fd(self._root, path) as (pfd, name):
            return os.open(name, flags, mode, dir_fd=pfd)

    def truncate(self, path: str, length: int) -> None:
        with self._object(path, follow=True) as fd:
            os.truncate(magic(fd), length)

    def mkdir(self, path: str, mode: int) -> None:
        with parent_fd(self._root, path) as (pfd, name):
            os.mkdir(name, mode, dir_fd=pfd)

    def symlink(self, target: str, path: str) -> None:
        with parent_fd(self._root, path) as (pfd, name):
            os.symlink(target, name, dir_fd=pfd)

    def mkfifo(self, path: str, mode: int) -> None:
        with parent_fd(self._root, path) as (pfd, name):
            os.mkfifo(name, mode, dir_fd=pfd)

    def unlink(self, path: str) -> None:
        with parent_fd(self._root, path) as (pfd, name):
            os.unlink(name, dir_fd=pfd)

    def rmdir(self, path: str) -> None:
        with parent_fd(self._root, path) as (pfd, name):
            os.rmdir(name, dir_fd=pfd)

    def rename(self, old: str, new: str) -> None:
        with parent_fd(self._root, old) as (ofd, oname), \
                parent_fd(self._root, new) as (nfd, nname):
            os.rename(oname, nname, src_dir_fd=ofd, dst_dir_fd=nfd)

    def link(self, existing: str, new: str) -> None:
        # linkat(2) looks `existing` up completely before it looks at `new`'s parent:
        # do the same, so that the errno is the one a chrooted process would get
        with self._object(existing):
            pass
        with parent_fd(self._root, existing) as (ofd, oname), \
                parent_fd(self._root, new) as (nfd, nname):
            os.link(oname, nname, src_dir_fd=ofd, dst_dir_fd=nfd, follow_symlinks=False)

    def chmod(self, path: str, mode: int) -> None:
        with self._object(path) as fd:
            os.chmod(magic(fd), mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        with parent_fd(self._root, path) as (pfd, name):
            os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)

    def utime(self, path: str, ns: tuple[int, int]) -> None:
        with parent_fd(self._root, path) as (pfd, name):
            os.utime(name, ns=ns, dir_fd=pfd, follow_symlinks=False)

    def setxattr(self, path: str, name: str, value: bytes) -> None:
        with self._object(path) as fd:
            os.setxattr(magic(fd), name, value)

    def removexattr(self, path: str, name: str) -> None:
        with self._object(path) as fd:
            os.removexattr(magic(fd), name)

    def listdir(self, path: str) -> list[tuple[str, str]]:
        fd = open_in_root(self._root, path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with os.scandir(fd) as it:
                return [(de.name, _dtype(de)) for de in it]
        finally:
            os.close(fd)

    def lstat(self, path: str) -> os.stat_result:
        with self._object(path) as fd:
            return os.stat(fd)

    def readlink(self, path: str) -> str:
        with parent_fd(self._root, path) as (pfd, name):
            return os.readlink(name, dir_fd=pfd)

    def listxattr(self, path: str) -> list[str]:
        with self._object(path) as fd:
            return os.listxattr(magic(fd))

    def getxattr(self, path: str, name: str) -> bytes:
        with self._object(path) as fd:
            return os.getxattr(magic(fd), name)

    def remount(self) -> None:
        self._detach()
        self._attach()

    def close(self) -> None:
        self._detach()


def _dtype(de: os.DirEntry[str]) -> str:
    if de.is_dir(follow_symlinks=False):
        return "d"
    if de.is_symlink():
        return "l"
    if de.is_file(follow_symlinks=False):
        return "f"
    return "o"


def lazy_umount(target: str) -> None:
    """umount2(MNT_DETACH): the last resort when a mount is busy; never raises."""
    kernel = importlib.import_module("layerfs.mounts.kernel")
    with contextlib.suppress(OSError):
        kernel.umount(target, lazy=True)


def overlay_mount(dirs: Dirs, options: Options, fstype: str) -> Mount:
    """The `Mount` value of the union: kernel options, every default spelled out."""
    return Mount(fstype, "overlay" if fstype == "overlay" else "layerfs", (
        "lowerdir=" + ":".join(dirs.lowerdirs),
        "upperdir=" + dirs.upperdir,
        "workdir=" + dirs.workdir,
        "redirect_dir=" + ("on" if options.redirect_dir else "off"),
        "index=off",
        "metacopy=off",
    ))


# --------------------------------------------------------------------------- registry

Factory = Callable[[Dirs, Options, str], FrontEnd]


def _kernel_mounter() -> Mounter:
    kernel = importlib.import_module("layerfs.mounts.kernel")
    return Mounter(kernel.mount, kernel.umount)


def _kernel(dirs: Dirs, options: Options, workspace: str) -> FrontEnd:
    merged = os.path.join(workspace, "merged")
    os.mkdir(merged)
    return MountFrontEnd("kernel", dirs, overlay_mount(dirs, options, "overlay"),
                         _kernel_mounter(), merged)


def _library(dirs: Dirs, options: Options, workspace: str) -> FrontEnd:
    return LibraryFrontEnd(dirs, options)


def _fuse(dirs: Dirs, options: Options, workspace: str) -> FrontEnd:
    fuse = importlib.import_module("layerfs.mounts.fuse")
    merged = os.path.join(workspace, "merged")
    os.mkdir(merged)
    umount = getattr(fuse, "umount", None) or _kernel_mounter().umount
    return MountFrontEnd("fuse", dirs, overlay_mount(dirs, options, "fuse.layerfs"),
                         Mounter(fuse.mount, umount), merged)


FACTORIES: dict[str, Factory] = {"kernel": _kernel, "library": _library, "fuse": _fuse}
REFERENCE = "kernel"
# What each front end needs: (module, attribute) pairs (the FUSE server serves a UnionView).
_REQUIRES = {
    "library": (("layerfs.union.view", "UnionView"),),
    "fuse": (("layerfs.union.view", "UnionView"), ("layerfs.mounts.fuse", "mount")),
}


def unavailable(name: str) -> str | None:
    """Why front end `name` cannot run here (None when it can): for a skip reason."""
    if os.geteuid() != 0:
        return "the conformance suite needs root (kernel overlay mounts)"
    if name == "kernel":
        with open("/proc/filesystems") as f:
            if "\toverlay\n" not in f.read():
                return "the kernel has no overlay file system"
        return None
    for module, attr in _REQUIRES[name]:
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            return f"{name} front end unavailable: cannot import {module} ({e})"
        if not hasattr(mod, attr):
            return f"{name} front end unavailable: {module} has no {attr}"
    return None
