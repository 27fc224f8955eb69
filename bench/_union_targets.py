"""The fixture and the three targets of bench/union_engine.py (native, kernel, layerfs).

A target reaches the merged tree through union paths ("/small/d000/f0000"); `fresh()`
starts again from an empty upper layer and `copy_of()` says where a copy-up put the data,
so that the benchmark can check the work was done.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from _common import GiB, MiB, hardlink_tree, kernel_overlay, reset_dir, write_file
from layerfs.union import UnionView


@dataclass(frozen=True)
class Sizes:
    """How big the fixture is."""

    dirs: int
    files_per_dir: int
    small_size: int
    wide: int
    big: int
    copyup_small: int


FULL = Sizes(dirs=100, files_per_dir=100, small_size=4096, wide=10_000, big=GiB, copyup_small=2000)
QUICK = Sizes(dirs=4, files_per_dir=25, small_size=4096, wide=400, big=8 * MiB, copyup_small=40)


# --------------------------------------------------------------------------- fixture


@dataclass(frozen=True)
class Fixture:
    root: Path
    lowers: tuple[Path, ...]  # top first
    native: Path
    small: tuple[str, ...]  # union paths
    missing: tuple[str, ...]
    wide: str
    big: str


def build_fixture(root: Path, sizes: Sizes) -> Fixture:
    """Write the layers and the native hard-link farm under `root`."""
    bottom, top = root / "lower0", root / "lower1"
    small, missing = [], []
    payload = os.urandom(sizes.small_size)
    for d in range(sizes.dirs):
        (bottom / "small" / f"d{d:03}").mkdir(parents=True)
        for f in range(sizes.files_per_dir):
            rel = f"/small/d{d:03}/f{f:04}"
            (bottom / rel[1:]).write_bytes(payload)
            small.append(rel)
            missing.append(rel + ".missing")
    for layer, names in ((bottom, range(0, sizes.wide, 2)), (top, range(1, sizes.wide, 2))):
        (layer / "wide").mkdir(parents=True)
        for i in names:
            (layer / "wide" / f"w{i:05}").touch()
    write_file(bottom / "big.bin", sizes.big)
    hardlink_tree([top, bottom], root / "native")
    os.sync()
    return Fixture(
        root, (top, bottom), root / "native", tuple(small), tuple(missing), "/wide", "/big.bin"
    )


# --------------------------------------------------------------------------- targets


class Target:
    """One way to reach the merged tree. Paths are union paths ("/small/d000/f0000")."""

    name = ""

    def lstat(self, path: str) -> os.stat_result:
        raise NotImplementedError

    def scandir(self, path: str) -> int:
        raise NotImplementedError

    def open(self, path: str, flags: int = os.O_RDONLY) -> int:
        raise NotImplementedError

    def fresh(self) -> None:
        """Start again from an empty upper layer (untimed, between copy-up rounds)."""
        raise NotImplementedError

    def copy_of(self, path: str) -> str:
        """The real path where a copy-up of union path `path` puts the data."""
        raise NotImplementedError


class _PathTarget(Target):
    """A target reached through real paths under `self.root`."""

    root = ""

    def lstat(self, path: str) -> os.stat_result:
        return os.lstat(self.root + path)

    def scandir(self, path: str) -> int:
        with os.scandir(self.root + path) as it:
            return len([e.is_dir(follow_symlinks=False) for e in it])  # d_type, like readdir

    def open(self, path: str, flags: int = os.O_RDONLY) -> int:
        return os.open(self.root + path, flags)


class Native(_PathTarget):
    name = "native"

    def __init__(self, fx: Fixture) -> None:
        self.root = str(fx.native)
        self.copies = fx.root / "native-copies"
        reset_dir(self.copies)

    def open(self, path: str, flags: int = os.O_RDONLY) -> int:
        if not flags & (os.O_WRONLY | os.O_RDWR):
            return os.open(self.root + path, flags)
        # The least a copy-up does: copy in the kernel, fsync, then open the copy.
        dst = self.copy_of(path)
        src_fd = os.open(self.root + path, os.O_RDONLY)
        dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            left = os.fstat(src_fd).st_size
            while left > 0:
                n = os.copy_file_range(src_fd, dst_fd, min(left, 1 << 30))
                if n == 0:
                    break
                left -= n
            os.fsync(dst_fd)
        finally:
            os.close(src_fd)
            os.close(dst_fd)
        return os.open(dst, flags)

    def fresh(self) -> None:
        reset_dir(self.copies)

    def copy_of(self, path: str) -> str:
        return str(self.copies / path.strip("/").replace("/", "_"))


class Kernel(_PathTarget):
    name = "kernel"

    def __init__(self, fx: Fixture, stack: contextlib.ExitStack) -> None:
        self.fx, self.stack = fx, stack
        self.base = fx.root / "kernel"
        self.root = str(self.base / "merged")
        self._inner: contextlib.ExitStack | None = None
        self.fresh()
        stack.callback(self._unmount)

    def _unmount(self) -> None:
        if self._inner is not None:
            self._inner.close()
            self._inner = None

    def fresh(self) -> None:
        self._unmount()
        for sub in ("upper", "work"):
            reset_dir(self.base / sub)
        self._inner = contextlib.ExitStack()
        self._inner.enter_context(
            kernel_overlay(
                self.fx.lowers, self.base / "upper", self.base / "work", self.base / "merged"
            )
        )

    def copy_of(self, path: str) -> str:
        return str(self.base / "upper") + path


class Layerfs(Target):
    name = "layerfs"

    def __init__(self, fx: Fixture) -> None:
        self.fx = fx
        self.base = fx.root / "layerfs"
        self.fresh()

    def fresh(self) -> None:
        for sub in ("upper", "work"):
            reset_dir(self.base / sub)
        self.view = UnionView(
            [str(p) for p in self.fx.lowers], str(self.base / "upper"), str(self.base / "work")
        )

    def copy_of(self, path: str) -> str:
        return str(self.base / "upper") + path

    def lstat(self, path: str) -> os.stat_result:
        return self.view.lstat(path)

    def scandir(self, path: str) -> int:
        return len(self.view.readdir(path))

    def open(self, path: str, flags: int = os.O_RDONLY) -> int:
        return self.view.open(path, flags)
