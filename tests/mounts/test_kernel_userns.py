"""Unprivileged kernel overlay mounts in a user + mount namespace, run as a real
unprivileged user (created with useradd when absent; the test itself runs as root)."""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from layerfs.errors import InvalidOption, Unsupported
from layerfs.mounts import userns
from layerfs.mounts.options import OverlayOptions

USER = "layerfs-test"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creating a test user needs root")


def ensure_user() -> pwd.struct_passwd:
    """The unprivileged test user, created once (under a lock: tests run in parallel)."""
    with open("/tmp/.layerfs-test-useradd.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return pwd.getpwnam(USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                check=True,
            )
            return pwd.getpwnam(USER)


@pytest.fixture
def user_dirs() -> Iterator[tuple[pwd.struct_passwd, Path]]:
    """A world-traversable dir owned by the test user with l1, l2, u, w, m inside."""
    if userns.restriction() is not None:
        pytest.skip(f"unprivileged user namespaces disabled: {userns.restriction()}")
    if shutil.which("runuser") is None:
        pytest.skip("runuser (util-linux) is not installed")
    user = ensure_user()
    root = Path(tempfile.mkdtemp(prefix="layerfs-userns-", dir="/tmp"))
    try:
        os.chmod(root, 0o755)
        for name in ("l1", "l2", "u", "w", "m"):
            (root / name).mkdir()
        (root / "l1" / "top").write_text("l1\n")
        (root / "l2" / "top").write_text("l2\n")
        (root / "l2" / "gone").write_text("x")
        (root / "l2" / "dir").mkdir()
        (root / "l2" / "dir" / "old").write_text("x")
        for dirpath, dirnames, filenames in os.walk(root):
            for name in [".", *dirnames, *filenames]:
                os.chown(os.path.join(dirpath, name), user.pw_uid, user.pw_gid)
        yield user, root
    finally:
        subprocess.run(["umount", "-l", str(root / "m")], capture_output=True, check=False)
        shutil.rmtree(root)


def run_as(user: pwd.struct_passwd, argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [shutil.which("runuser") or "runuser", "-u", user.pw_name, "--", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def layerfs_argv() -> list[str]:
    return [sys.executable, "-m", "layerfs.cli.main"]


def test_run_in_namespace_as_unprivileged_user(user_dirs: tuple[pwd.struct_passwd, Path]) -> None:
    user, root = user_dirs
    script = f"""
import sys
from layerfs.mounts import userns
from layerfs.mounts.options import parse_options
o = parse_options("lowerdir={root}/l1:{root}/l2,upperdir={root}/u,workdir={root}/w")
cmd = "cat {root}/m/top; id -u; echo new > {root}/m/new; rm {root}/m/gone; rm -r {root}/m/dir;"
cmd += " mkdir {root}/m/dir; grep ' {root}/m ' /proc/self/mountinfo; exit 7"
sys.exit(userns.run_in_namespace(o, "{root}/m", ["sh", "-c", cmd]))
"""
    res = run_as(user, [sys.executable, "-c", script])
    assert res.returncode == 7, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "l1"  # top first
    assert lines[1] == str(user.pw_uid)  # the caller's own uid, mapped to itself
    assert "userxattr" in lines[2]
    # outside the namespace nothing is mounted and the merged dir is empty
    assert os.listdir(root / "m") == []
    assert (root / "u" / "new").read_text() == "new\n"
    assert (root / "u" / "new").stat().st_uid == user.pw_uid
    gone = (root / "u" / "gone").lstat()
    assert (gone.st_mode & 0o170000) == 0o020000 and gone.st_rdev == 0  # 0/0 whiteout
    assert os.getxattr(root / "u" / "dir", "user.overlay.opaque") == b"y"
    with pytest.raises(OSError):
        os.getxattr(root / "u" / "dir", "trusted.overlay.opaque")


def test_cli_mount_runs_command_in_namespace(user_dirs: tuple[pwd.struct_passwd, Path]) -> None:
    user, root = user_dirs
    opts = f"lowerdir={root}/l1:{root}/l2,upperdir={root}/u,workdir={root}/w"
    res = run_as(
        user,
        [
            *layerfs_argv(),
            "mount",
            "-o",
            opts,
            str(root / "m"),
            "--",
            "cat",
            str(root / "m" / "top"),
        ],
    )
    assert (res.returncode, res.stdout) == (0, "l1\n"), res.stderr
    res = run_as(user, [*layerfs_argv(), "mount", "-o", opts, str(root / "m"), "--", "false"])
    assert res.returncode == 1 and res.stderr == ""


def test_cli_kernel_driver_without_command_explains(
    user_dirs: tuple[pwd.struct_passwd, Path],
) -> None:
    user, root = user_dirs
    opts = f"lowerdir={root}/l1:{root}/l2,upperdir={root}/u,workdir={root}/w"
    res = run_as(
        user, [*layerfs_argv(), "mount", "--driver", "kernel", "-o", opts, str(root / "m")]
    )
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert len(lines) == 1
    assert "private user namespace" in lines[0] and "--driver fuse" in lines[0]
    assert os.listdir(root / "w") == []  # nothing written


def test_bad_input_in_namespace_is_reported(user_dirs: tuple[pwd.struct_passwd, Path]) -> None:
    user, root = user_dirs
    script = f"""
from layerfs.mounts import userns
from layerfs.mounts.options import parse_options
o = parse_options("lowerdir={root}/l1:{root}/l2,upperdir={root}/u,workdir={root}/w")
for target, argv in (("{root}/nodir", ["true"]), ("{root}/m", ["no-such-command-xyz"])):
    try:
        userns.run_in_namespace(o, target, argv)
    except Exception as e:
        print(type(e).__name__, e)
"""
    res = run_as(user, [sys.executable, "-c", script])
    assert res.stdout.splitlines() == [
        f"InvalidOption mount point {root}/nodir: no such directory",
        "FileNotFoundError [Errno 2] command not found: 'no-such-command-xyz'",
    ], res.stderr


def test_restricted_kernel_gives_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    knob = tmp_path / "unprivileged_userns_clone"
    knob.write_text("0\n")
    monkeypatch.setattr(userns, "_KNOBS", ((str(knob), "0", "kernel.unprivileged_userns_clone=0"),))
    for d in ("l1", "l2", "u", "w", "m"):
        (tmp_path / d).mkdir()
    opts = OverlayOptions(
        (str(tmp_path / "l1"), str(tmp_path / "l2")), str(tmp_path / "u"), str(tmp_path / "w")
    )
    assert userns.restriction() == "kernel.unprivileged_userns_clone=0"
    with pytest.raises(Unsupported, match=r"unprivileged_userns_clone=0.*--driver fuse"):
        userns.run_in_namespace(opts, str(tmp_path / "m"), ["true"])
    with pytest.raises(InvalidOption):  # options are checked before anything else
        userns.run_in_namespace(
            OverlayOptions((str(tmp_path / "nope"),)), str(tmp_path / "m"), ["true"]
        )


def test_unprivileged_umount_is_refused_clearly(
    user_dirs: tuple[pwd.struct_passwd, Path],
) -> None:
    user, root = user_dirs
    for target in ("/proc", str(root / "m")):
        res = run_as(user, [*layerfs_argv(), "umount", target])
        assert res.returncode == 1
        lines = res.stderr.splitlines()
        assert len(lines) == 1, res.stderr
        assert lines[0].startswith(f"layerfs: error: umount {target}: operation not permitted")
    assert os.path.ismount("/proc")
