"""The library front end: `layerfs.union.UnionView` over one copy of the layers."""

from __future__ import annotations

import importlib
import os
import stat
from typing import Any

from .layers import Dirs
from .protocol import OpenBased, Options


class LibraryFrontEnd(OpenBased):
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
