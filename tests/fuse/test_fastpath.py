"""The server's shortcuts past the engine (`fastpath`): they must leave exactly what the
engine would, on disk and in the merged view."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from layerfs.mounts import fuse, kernel
from layerfs.mounts.options import OverlayOptions
from layerfs.union.changes import changes

from .conftest import Stack, force_umount, needs_root


def _lower_files(s: Stack, count: int) -> None:
    d = Path(s.lowers[1], "many")
    d.mkdir()
    for i in range(count):
        (d / f"f{i}").write_text(str(i))


@needs_root
def test_unlinks_of_lower_files_share_one_whiteout_inode(
        stack: Stack, mounted: Callable[..., Stack]) -> None:
    """As the kernel: whiteouts are links of one char 0/0 inode; the work dir is left
    clean at unmount, and the kernel overlay reads the upper dir the same way."""
    _lower_files(stack, 5)
    s = mounted()

    for i in range(5):
        os.unlink(s.m(f"many/f{i}"))
    assert os.listdir(s.m("many")) == []
    os.unlink(s.m("only2"))  # a lower file in the root, whose upper dir exists already
    fuse.umount(s.merged)
    force_umount(s.merged)
    whiteouts = [os.lstat(Path(s.upper, "many", f"f{i}")) for i in range(5)]
    for st in whiteouts:
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0 and st.st_mode & 0o7777 == 0
    assert len({(st.st_dev, st.st_ino) for st in whiteouts[1:]}) == 1
    # the daemon removes its shared whiteout inode once the connection has ended
    deadline = time.monotonic() + 10
    while os.listdir(Path(s.work, "work")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.listdir(Path(s.work, "work")) == []
    deleted = {c.path for c in changes(s.upper, list(s.lowers)) if c.kind == "D"}
    assert deleted >= {"/only2", *(f"/many/f{i}" for i in range(5))}
    opts = OverlayOptions(s.lowers, s.upper, s.work)
    kernel.mount_overlay(opts, s.merged)
    try:
        assert os.listdir(s.m("many")) == []
        assert not os.path.exists(s.m("only2"))
    finally:
        kernel.umount(s.merged)


def test_create_over_whiteout_and_in_new_dirs(mounted: Callable[..., Stack]) -> None:
    """A name deleted then created again replaces its whiteout (engine path); names new
    to the union go straight to the upper dir; both read back after a remount."""
    s = mounted()
    os.unlink(s.m("only2"))
    Path(s.m("only2")).write_text("again")
    os.mkdir(s.m("fresh"))
    for i in range(20):
        Path(s.m(f"fresh/n{i}")).write_text(f"n{i}")
    Path(s.m("dir/c")).write_text("in a merged dir")
    with pytest.raises(FileExistsError):
        os.close(os.open(s.m("dir/a"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    fuse.umount(s.merged)
    force_umount(s.merged)
    s = mounted()
    assert Path(s.m("only2")).read_text() == "again"
    assert sorted(os.listdir(s.m("fresh"))) == sorted(f"n{i}" for i in range(20))
    assert Path(s.m("fresh/n7")).read_text() == "n7"
    assert sorted(os.listdir(s.m("dir"))) == ["a", "b", "c"]
    assert Path(s.m("dir/a")).read_text() == "a2"
