"""The fallbacks: the chroot runtime (LAYERFS_RUNTIME=chroot, used when runc is missing)
and the FUSE root file system (LAYERFS_ROOTFS=fuse, used when the kernel refuses)."""

from __future__ import annotations

import json
import shutil

import pytest

from runtime.conftest import Env, requires_runtime

pytestmark = requires_runtime


def test_chroot_runtime(env: Env) -> None:
    if shutil.which("nsenter") is None:
        pytest.skip("nsenter (util-linux) is not installed")
    chroot = {"LAYERFS_RUNTIME": "chroot"}
    proc = env.run(
        "run", "--name", "ch", "-e", "X=1", "-w", "/tmp", "-u", "app", "busybox",
        "sh", "-c", 'echo "$X"; pwd; id -u; echo $$; ls /sys/class/net; hostname; exit 4',
        env=chroot, check=False,
    )  # fmt: skip
    assert proc.returncode == 4, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:5] == ["1", "/tmp", "1000", "1", "lo"]  # pid 1 in its pid namespace
    assert len(lines[5]) == 12
    assert json.loads(env.out("inspect", "ch"))[0]["HostConfig"]["Runtime"] == "chroot"
    env.run("run", "-d", "--name", "chd", "busybox", "sleep", "3600", env=chroot)
    assert env.out("exec", "chd", "sh", "-c", "echo in > /f; cat /f") == "in\n"
    assert env.out("diff", "chd") == "A /f\n"
    env.run("stop", "-t", "1", "chd")
    assert json.loads(env.out("inspect", "chd"))[0]["State"]["ExitCode"] == 137
    env.run("rm", "ch", "chd")


def test_no_runtime_at_all_says_what_is_missing(env: Env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # runc hidden from PATH and the chroot fallback lacking nsenter: a clear error
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    proc = env.run("run", "--rm", "busybox", "true", env={"PATH": str(bin_dir)}, check=False)
    assert proc.returncode != 0
    assert "runc is not installed" in proc.stderr and "nsenter" in proc.stderr


def test_fuse_root_file_system(env: Env) -> None:
    if shutil.which("fusermount3") is None:
        pytest.skip("fuse3 is not installed")
    fuse = {"LAYERFS_ROOTFS": "fuse"}
    env.run("run", "-d", "--name", "fu", "busybox", "sleep", "3600", env=fuse)
    merged = json.loads(env.out("inspect", "fu"))[0]["GraphDriver"]["Data"]["MergedDir"]
    with open("/proc/self/mountinfo") as f:
        assert any(line.split()[4] == merged and " - fuse" in line for line in f)
    env.run("exec", "fu", "sh", "-c", "echo data > /root/f; rm /etc/group")
    assert env.out("diff", "fu").splitlines() == ["C /etc", "D /etc/group", "C /root", "A /root/f"]
    env.run("rm", "-f", "fu")
    assert "clean" in env.out("fsck")
