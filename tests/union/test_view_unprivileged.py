"""UnionView used by an ordinary user (uid 65534): ``workdir/work`` is created 0700 (the
kernel's mode 0 would refuse the user its own work dir), so copy-up and rename work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to a user")

NOBODY = 65534
SCRIPT = r"""
import json, os, sys
from layerfs.union import UnionView, WhiteoutFormat
base = sys.argv[1]
v = UnionView([base + "/low"], base + "/up", base + "/work", whiteouts=WhiteoutFormat.OCI)
fd = v.open("/f", os.O_WRONLY | os.O_APPEND)
os.write(fd, b"+")
os.close(fd)
v.rename("/g", "/h")
mode = os.stat(base + "/work/work").st_mode & 0o777
print(json.dumps({"mode": mode, "f": v.read_bytes("/f").decode(), "names": v.listdir("/")}))
"""


def _drop() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


@pytest.fixture
def base() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="layerfs-unpriv-view-")
    try:
        os.chmod(path, 0o755)
        for d in ("low", "up", "work"):
            os.mkdir(os.path.join(path, d))
        for name in ("f", "g"):
            with open(os.path.join(path, "low", name), "w") as fh:
                fh.write(name)
        for d in ("up", "work"):
            os.chown(os.path.join(path, d), NOBODY, NOBODY)
        yield path
    finally:
        shutil.rmtree(path)


def test_ordinary_user_copies_up_and_renames(base: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, base], preexec_fn=_drop,
                          capture_output=True, text=True, env=env, cwd=base, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["mode"] == 0o700
    assert out["f"] == "f+"
    assert sorted(out["names"]) == ["f", "h"]
