"""apply_tar and write_tar run by an ordinary user (uid 65534): no ownership, no
devices, user.* xattrs only, restrictive directory modes set last; whiteouts in the
USERXATTR form when the kernel lets the user mknod a 0/0 device, OCI form otherwise."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import pytest

from .tars import M, d, f, tar_bytes, wh

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to a user")

NOBODY = 65534
SCRIPT = r"""
import io, json, os, sys
from layerfs.archive.apply import apply_tar
from layerfs.archive.generate import write_tar
from layerfs.union.whiteouts import WhiteoutFormat
dest, fmt = sys.argv[1], WhiteoutFormat(sys.argv[2])
r = apply_tar(open(sys.argv[3], "rb"), dest, fmt=fmt)
out = io.BytesIO()
g = write_tar(dest, out)
print(json.dumps({"notes": r.notes, "applied": str(r.diff_id), "regen": out.getvalue().hex()}))
"""


def _drop() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


@pytest.fixture
def workdir():
    base = tempfile.mkdtemp(prefix="layerfs-unpriv-")
    os.chmod(base, 0o755)
    os.chown(base, NOBODY, NOBODY)
    try:
        yield base
    finally:
        shutil.rmtree(base)


@pytest.mark.parametrize("fmt", ["oci", "userxattr"])
def test_apply_as_ordinary_user(workdir, fmt):
    data = tar_bytes([
        d("ro", 0o555), f("ro/file", b"x", 0o444, uid=0, gid=0),
        f("su", b"x", 0o4755), M("null", tarfile.CHRTYPE, devmajor=1, devminor=3),
        f("x", b"1", pax={"SCHILY.xattr.user.k": "v", "SCHILY.xattr.trusted.t": "no"}),
        d("o"), wh("o/.wh..wh..opq"), wh(".wh.gone"),
    ])
    tar = os.path.join(workdir, "layer.tar")
    with open(tar, "wb") as fh:
        fh.write(data)
    dest = os.path.join(workdir, "dest")
    os.mkdir(dest)
    os.chown(dest, NOBODY, NOBODY)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, dest, fmt, tar], preexec_fn=_drop,
                          capture_output=True, text=True, env=env, cwd=workdir)
    if fmt == "userxattr" and "Operation not permitted" in proc.stderr:
        pytest.skip("this kernel refuses 0/0 device whiteouts to ordinary users")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert sorted(os.listdir(dest)) == sorted(
        ["ro", "su", "x", "o", "gone"] if fmt == "userxattr" else
        ["ro", "su", "x", "o", ".wh.gone"])
    assert os.stat(os.path.join(dest, "ro")).st_mode & 0o777 == 0o555
    assert os.stat(os.path.join(dest, "su")).st_mode & 0o7777 == 0o755
    assert os.stat(os.path.join(dest, "x")).st_uid == NOBODY
    assert os.getxattr(os.path.join(dest, "x"), "user.k") == b"v"
    notes = " ".join(result["notes"])
    assert "device node skipped" in notes and "setuid" in notes and "trusted.t" in notes
    with tarfile.open(fileobj=io.BytesIO(bytes.fromhex(result["regen"]))) as regen:
        names = regen.getnames()
    assert ".wh.gone" in names and "o/.wh..wh..opq" in names
