"""`mount -t fuse.layerfs` through mount(8) and the installed mount.fuse.layerfs helper,
and the VFS options mount(8) hands to helpers (rw, noexec, noatime...)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from layerfs.mounts import abi, kernel
from layerfs.mounts.fuse import daemon
from layerfs.mounts.mount import Mount

from .conftest import Stack, needs_root

HELPER = "/sbin/mount.fuse.layerfs"


def _mount_options(target: str) -> set[str]:
    """The per-mount options of `target` in /proc/self/mountinfo (ro, noexec, ...)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == target:
                return set(fields[5].split(","))
    raise AssertionError(f"{target} is not mounted")


def _needs_mount8() -> None:
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("mount(8)/umount(8) (package mount) are not installed")
    if not os.path.exists(HELPER):
        pytest.skip(f"{HELPER} is missing: `make setup` links it to the venv's script")


@needs_root
def test_mount8_read_write_then_umount8(stack: Stack) -> None:
    _needs_mount8()
    opts = ",".join(stack.mount_value().options) + ",noexec,noatime"
    subprocess.run(["mount", "-t", "fuse.layerfs", "layerfs", stack.merged, "-o", opts],
                   check=True, capture_output=True, text=True, timeout=60)
    try:
        assert kernel.is_mountpoint(stack.merged)
        assert Path(stack.m("f")).read_text() == "top"
        Path(stack.m("new")).write_text("through mount(8)")
        shown = _mount_options(stack.merged)
        # mount(8) passes only flags that differ from its defaults (never "suid"/"dev"),
        # so a helper keeps FUSE's nosuid,nodev as libfuse's does.
        assert {"rw", "noexec", "noatime", "nosuid", "nodev"} <= shown
    finally:
        subprocess.run(["umount", stack.merged], check=True, timeout=60)
    assert not kernel.is_mountpoint(stack.merged)
    assert Path(stack.upper, "new").read_text() == "through mount(8)"


@needs_root
def test_mount8_read_only(stack: Stack) -> None:
    _needs_mount8()
    opts = f"lowerdir={':'.join(stack.lowers)}"
    subprocess.run(["mount", "-t", "fuse.layerfs", "-r", "layerfs", stack.merged, "-o", opts],
                   check=True, capture_output=True, text=True, timeout=60)
    try:
        shown = _mount_options(stack.merged)
        assert {"ro", "nosuid", "nodev"} <= shown
        assert Path(stack.m("only2")).read_text() == "two"
        with pytest.raises(OSError):
            Path(stack.m("new")).write_text("x")
    finally:
        subprocess.run(["umount", stack.merged], check=True, timeout=60)


@needs_root
def test_mount8_bad_option_fails_cleanly(stack: Stack) -> None:
    _needs_mount8()
    opts = ",".join(stack.mount_value().options) + ",lowerdirs=/nowhere"
    proc = subprocess.run(["mount", "-t", "fuse.layerfs", "layerfs", stack.merged, "-o", opts],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "lowerdir" in proc.stderr
    assert not kernel.is_mountpoint(stack.merged)


def test_mount_flags_from_vfs_options() -> None:
    def flags(*opts: str) -> int:
        return daemon.config_of(Mount("fuse.layerfs", "x", ("lowerdir=/a", *opts))).mount_flags

    assert flags() == abi.MS_NOSUID | abi.MS_NODEV | abi.MS_RDONLY  # no upper: read-only
    rw = ("upperdir=/u", "workdir=/w")
    assert flags(*rw, "rw") == abi.MS_NOSUID | abi.MS_NODEV
    assert flags(*rw, "suid", "dev", "noexec", "noatime") == abi.MS_NOEXEC | abi.MS_NOATIME
    assert flags(*rw, "ro", "defaults", "_netdev", "x-systemd.automount") & abi.MS_RDONLY
