"""runtime.info / runtime.hostinfo: the storage driver probe (kernel overlay when it
mounts, FUSE when refused or forced) leaves nothing behind; host facts match the system's
own tools (stat -f, /proc)."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from layerfs.errors import MountError
from layerfs.runtime import hostinfo, info
from layerfs.store.store import Store


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Store.open(str(tmp_path / "store"))
    try:
        yield s
    finally:
        s.close()


def _clean(store: Store) -> None:
    assert os.listdir(store.paths.ingest) == []
    with open("/proc/self/mountinfo") as f:
        assert store.paths.root not in f.read()


def test_kernel_overlay_when_it_mounts(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("a kernel overlay mount needs root here")
    monkeypatch.delenv("LAYERFS_ROOTFS", raising=False)
    s = info.probe_storage(store)
    assert (s.driver, s.why, s.supports_d_type, s.whiteouts) == ("overlay", "", True, "kernel")
    _clean(store)


def test_fuse_when_the_kernel_refuses(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise MountError(errno.EPERM, "mount overlay: operation not permitted")

    monkeypatch.delenv("LAYERFS_ROOTFS", raising=False)
    monkeypatch.setattr(info.kernel, "mount", refuse)
    monkeypatch.setattr(info, "fuse_available", lambda: True)
    s = info.probe_storage(store)
    assert s.driver == info.FUSE and "not permitted" in s.why
    monkeypatch.setattr(info, "fuse_available", lambda: False)
    assert info.probe_storage(store).driver == info.NONE
    _clean(store)


def test_forced_drivers(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYERFS_ROOTFS", "fuse")
    forced = info.probe_storage(store)
    assert forced.why == "LAYERFS_ROOTFS=fuse" and forced.driver in (info.FUSE, info.NONE)
    monkeypatch.setenv("LAYERFS_ROOTFS", "kernel")
    assert info.probe_storage(store).driver == info.KERNEL
    _clean(store)


def test_collect_counts(store: Store) -> None:
    got = info.collect(store)
    assert (got.images, got.containers, got.running, got.stopped) == (0, 0, 0, 0)
    assert got.root == store.paths.root and got.cpus == os.cpu_count()


def test_host_facts_match_the_system(tmp_path: Path) -> None:
    hex_type = subprocess.run(["stat", "-f", "-c", "%t", str(tmp_path)], capture_output=True,
                              text=True, check=True).stdout.strip()
    assert hostinfo.fs_magic(str(tmp_path)) == int(hex_type, 16)
    assert hostinfo.backing_filesystem(str(tmp_path)) in hostinfo.FS_NAMES.values()
    assert hostinfo.supports_d_type(str(tmp_path)) is True
    assert os.listdir(tmp_path) == []
    cg = subprocess.run(["stat", "-f", "-c", "%T", "/sys/fs/cgroup"], capture_output=True,
                        text=True, check=True).stdout.strip()
    assert hostinfo.cgroup_version() == ("2" if cg == "cgroup2fs" else "1")
    assert hostinfo.mem_total() > 0
    assert hostinfo.kernel_version() == os.uname().release
    if hostinfo.runc_binary():
        assert hostinfo.runc_version()[0].isdigit()
