"""Front ends that are real mounts (the kernel overlay, the FUSE server), reached
fd-relative from the mount root so that paths deeper than PATH_MAX work."""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from layerfs.mounts.mount import Mount

from .fsutil import magic, open_in_root, parent_fd
from .layers import Dirs
from .protocol import OpenBased, Options


@dataclass(frozen=True)
class Mounter:
    """How one kind of mount is made and removed."""

    mount: Callable[[Mount, str], None]
    umount: Callable[[str], None]


class MountFrontEnd(OpenBased):
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
