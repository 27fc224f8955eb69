"""fd-relative access to a directory tree that never follows a symlink.

`FdTree` holds an fd on a root directory and reaches every path below it with
``openat(O_NOFOLLOW|O_DIRECTORY)`` one component at a time, so neither a symlink nor a
rename race can lead outside the root. It creates missing parents on request and caches
the last directory opened (tar members come grouped by directory).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat

from layerfs.errors import InvalidLayer

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def proc_path(fd: int, name: str | None = None) -> str:
    """A path that names the object behind `fd` (and `name` inside it) via /proc/self/fd.

    The kernel resolves the fd link itself, not a path string, so the result is as safe
    as the fd: used for the path-only helpers of `layerfs.union.whiteouts`.
    """
    # "/." makes the directory itself the last component: calls that do not follow a
    # final symlink (lsetxattr...) would otherwise act on the /proc link
    return f"/proc/self/fd/{fd}/{'.' if name is None else name}"


class FdTree:
    """A directory tree reached only through fds; `close()` releases them all."""

    def __init__(self, root: str) -> None:
        self.root_fd = os.open(root, _DIR_FLAGS)
        self._cached: tuple[tuple[str, ...], int] | None = None

    def close(self) -> None:
        self.forget_cache()
        os.close(self.root_fd)

    def forget_cache(self) -> None:
        """Drop the cached directory fd (call after removing any directory)."""
        if self._cached is not None:
            os.close(self._cached[1])
            self._cached = None

    def open_dir(self, parts: tuple[str, ...], *, create: bool, what: str) -> int:
        """An fd on the directory `parts` below the root (owned by the tree: do not close).

        Missing components are created (mode 0755) when `create`; a component that is a
        symlink, a file or anything but a directory raises InvalidLayer naming `what`.
        """
        if not parts:
            return self.root_fd
        if self._cached is not None and self._cached[0] == parts:
            return self._cached[1]
        fd = self.root_fd
        try:
            for i, comp in enumerate(parts):
                nfd = self._step(fd, comp, create, what, parts[: i + 1])
                if fd != self.root_fd:
                    os.close(fd)
                fd = nfd
        except BaseException:
            if fd != self.root_fd:
                os.close(fd)
            raise
        self.forget_cache()
        self._cached = (parts, fd)
        return fd

    def _step(self, fd: int, comp: str, create: bool, what: str, sofar: tuple[str, ...]) -> int:
        try:
            return os.open(comp, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise InvalidLayer(f"{what}: {'/'.join(sofar)} does not exist") from None
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                raise InvalidLayer(
                    f"{what}: {'/'.join(sofar)} is not a directory (a symlink or a file)"
                ) from None
            raise
        os.mkdir(comp, 0o755, dir_fd=fd)
        return os.open(comp, _DIR_FLAGS, dir_fd=fd)

    @staticmethod
    def lstat(dir_fd: int, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def remove(self, dir_fd: int, name: str, st: os.stat_result) -> None:
        """Remove `name` (a whole tree if a directory) from the directory `dir_fd`."""
        if stat.S_ISDIR(st.st_mode):
            if self._cached is not None and self._cached[1] != dir_fd:
                self.forget_cache()  # it may lie inside the tree removed here
            shutil.rmtree(name, dir_fd=dir_fd)
        else:
            os.unlink(name, dir_fd=dir_fd)
