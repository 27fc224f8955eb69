"""Fixtures of the FUSE tests: layer stacks built at run time and mounts always removed."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from layerfs.mounts import fuse, kernel
from layerfs.mounts.mount import Mount

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting as root needs root")


def fuse_unavailable() -> str | None:
    """Why FUSE mounts cannot be tested here (None if they can)."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    if os.geteuid() != 0 and shutil.which("fusermount3") is None:
        return "fusermount3 (package fuse3) is not installed"
    return None


@dataclass(frozen=True)
class Stack:
    """Two lower layers (l1 on top of l2), an upper and a work dir, a mount point."""

    root: Path
    lowers: tuple[str, ...]
    upper: str
    work: str
    merged: str

    def mount_value(self, *extra: str, upper: bool = True) -> Mount:
        opts = ["lowerdir=" + ":".join(self.lowers)]
        if upper:
            opts += [f"upperdir={self.upper}", f"workdir={self.work}"]
        return Mount("fuse.layerfs", "layerfs", (*opts, *extra))

    def m(self, rel: str = "") -> str:
        return os.path.join(self.merged, rel) if rel else self.merged


def build_stack(root: Path) -> Stack:
    """Fixture content: a file shadowed in l1, a merged dir, a lower hard link pair, a
    whiteout (kernel form, as root) and an opaque dir in l1."""
    l1, l2 = root / "l1", root / "l2"
    for d in (l1, l2, root / "u", root / "w", root / "m"):
        d.mkdir()
    (l2 / "f").write_text("bottom")
    (l1 / "f").write_text("top")
    (l2 / "only2").write_text("two")
    (l2 / "dir").mkdir()
    (l2 / "dir" / "a").write_text("a2")
    (l1 / "dir").mkdir()
    (l1 / "dir" / "b").write_text("b1")
    (l2 / "hl1").write_text("linked data")
    os.link(l2 / "hl1", l2 / "hl2")
    (l2 / "gone").write_text("x")
    if os.geteuid() == 0:
        os.mknod(l1 / "gone", 0o020000, os.makedev(0, 0))
    (l2 / "opq").mkdir()
    (l2 / "opq" / "hidden").write_text("h")
    (l1 / "opq").mkdir()
    (l1 / "opq" / "shown").write_text("s")
    if os.geteuid() == 0:
        os.setxattr(l1 / "opq", "trusted.overlay.opaque", b"y")
    else:
        os.setxattr(l1 / "opq", "user.overlay.opaque", b"y")
    os.symlink("f", l2 / "link")
    return Stack(root, (str(l1), str(l2)), str(root / "u"), str(root / "w"), str(root / "m"))


def force_umount(target: str) -> None:
    """Remove every mount stacked on `target` (lazily); never raises."""
    for _ in range(4):
        if not kernel.is_mountpoint(target):
            return
        with contextlib.suppress(OSError):
            fuse.umount(target, lazy=True)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    reason = fuse_unavailable()
    if reason:
        pytest.skip(reason)
    s = build_stack(tmp_path)
    try:
        yield s
    finally:
        force_umount(s.merged)


@pytest.fixture
def mounted(stack: Stack) -> Iterator[Callable[..., Stack]]:
    """`mounted(*extra_options, upper=True)` mounts the stack in the background."""

    def do(*extra: str, upper: bool = True) -> Stack:
        fuse.mount(stack.mount_value(*extra, upper=upper), stack.merged)
        return stack

    yield do
    force_umount(stack.merged)
