"""An ordinary user mounts through fusermount3 (the test creates the user; runs as root)."""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import force_umount

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
def user_stack() -> Iterator[tuple[pwd.struct_passwd, Path]]:
    for tool in ("runuser", "fusermount3"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    user = ensure_user()
    root = Path(tempfile.mkdtemp(prefix="layerfs-fuse-user-", dir="/tmp"))
    os.chmod(root, 0o755)
    # Distributions make /dev/fuse world read-write (fusermount3 opens it as the user);
    # some container set-ups leave it 0600: give it the usual mode for the test.
    mode = stat.S_IMODE(os.stat("/dev/fuse").st_mode)
    if mode & 0o006 != 0o006:
        os.chmod("/dev/fuse", mode | 0o666)
    try:
        yield user, root
    finally:
        force_umount(str(root / "s" / "m"))
        shutil.rmtree(root)
        if mode & 0o006 != 0o006:
            os.chmod("/dev/fuse", mode)


SCRIPT = textwrap.dedent('''
    import errno, os, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from fuse.conftest import build_stack
    from layerfs.mounts import fuse
    (Path({root!r}) / "s").mkdir()
    s = build_stack(Path({root!r}) / "s")
    fuse.mount(s.mount_value(), s.merged)
    try:
        m = Path(s.merged)
        assert (m / "f").read_text() == "top"
        assert sorted(os.listdir(m / "dir")) == ["a", "b"]
        assert os.listdir(m / "opq") == ["shown"]
        (m / "new").write_text("by user")
        os.unlink(m / "only2")
        os.rename(m / "dir", m / "moved")
        with open(m / "f", "ab") as f:
            f.write(b"+")
        assert (m / "f").read_text() == "top+"
        assert not (m / "only2").exists()
        assert sorted(os.listdir(m / "moved")) == ["a", "b"]
        try:
            os.mknod(m / "dev", 0o020644, os.makedev(1, 3))
            raise SystemExit("mknod of a device worked unprivileged")
        except PermissionError:
            pass
    finally:
        fuse.umount(s.merged)
    fuse.mount(s.mount_value(), s.merged)
    try:
        m = Path(s.merged)
        assert (m / "new").read_text() == "by user"
        assert not (m / "only2").exists()
        assert (m / "f").read_text() == "top+"
        assert sorted(os.listdir(m / "moved")) == ["a", "b"]
    finally:
        fuse.umount(s.merged)
    print("ok", os.getuid())
''')


def test_ordinary_user_mounts_with_fusermount3(
    user_stack: tuple[pwd.struct_passwd, Path],
) -> None:
    user, root = user_stack
    tests = str(Path(__file__).resolve().parent.parent)
    os.chown(root, user.pw_uid, user.pw_gid)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [shutil.which("runuser") or "runuser", "-u", user.pw_name, "--", sys.executable, "-c",
         SCRIPT.format(tests=tests, root=str(root))],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["ok", str(user.pw_uid)]
    upper = root / "s" / "u"
    # the user's upper dir: user.overlay.* markers (or the OCI fallback), never trusted.*
    wh = upper / "only2"
    if wh.exists() or wh.is_char_device():
        st = os.lstat(wh)
        assert st.st_uid == user.pw_uid
    names = {x for p in [upper / "moved"] for x in os.listxattr(p, follow_symlinks=False)}
    assert all(not n.startswith("trusted.") for n in names)
    assert any(n.startswith("user.overlay.") for n in names)
    assert (upper / "new").read_text() == "by user"
