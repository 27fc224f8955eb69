"""The kernel as the reference: an upper dir written by a real overlay mount, turned into
a tar by write_tar and applied by apply_tar, gives the same merged tree when mounted."""

from __future__ import annotations

import io
import os
import shutil
import subprocess

import pytest

from layerfs.archive.apply import apply_tar
from layerfs.archive.generate import write_tar
from layerfs.union.whiteouts import WhiteoutFormat

from .tars import snapshot

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("mount") is None, reason="kernel overlay mounts need root"
)


def _mount(options: str, merged) -> None:
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)],
                   check=True, capture_output=True)


def _umount(merged) -> None:
    subprocess.run(["umount", "-l", str(merged)], check=False, capture_output=True)


def test_kernel_upper_round_trip(tmp_path):
    lower, upper, work, merged = (tmp_path / n for n in ("lower", "upper", "work", "merged"))
    for p in (upper, work, merged):
        p.mkdir()
    (lower / "a").mkdir(parents=True)
    (lower / "a" / "x").write_text("x")
    (lower / "a" / "y").write_text("y")
    (lower / "c" / "deep").mkdir(parents=True)
    (lower / "c" / "deep" / "old").write_text("old")
    (lower / "f").write_text("f")
    (lower / "g").write_text("g")
    _mount(f"lowerdir={lower},upperdir={upper},workdir={work}", merged)
    try:
        os.unlink(merged / "a" / "x")
        shutil.rmtree(merged / "c")
        (merged / "c").mkdir()
        (merged / "c" / "new").write_text("new")
        with open(merged / "f", "a") as fh:
            fh.write("more")
        os.chmod(merged / "g", 0o600)
        os.setxattr(merged / "g", "user.k", b"v")
        (merged / "newdir").mkdir()
        os.symlink("a/y", merged / "sl")
        os.link(merged / "f", merged / "f2")
        expected = snapshot(str(merged))
    finally:
        _umount(merged)
    buf = io.BytesIO()
    write_tar(str(upper), buf, source_date_epoch=0)
    layer = tmp_path / "layer"
    layer.mkdir()
    apply_tar(io.BytesIO(buf.getvalue()), str(layer), fmt=WhiteoutFormat.KERNEL)
    merged2 = tmp_path / "merged2"
    merged2.mkdir()
    _mount(f"lowerdir={layer}:{lower}", merged2)
    try:
        assert snapshot(str(merged2)) == expected
    finally:
        _umount(merged2)
