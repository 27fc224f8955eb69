"""`make demo`'s Part 2 (the seed's Lab Part 2 on a loopback registry) runs, shows what
the seed says, stops its registry and leaves nothing behind.

demo/part2_images.sh checks its own output and exits non-zero with "DEMO FAILED" on the
first step that differs; it is run here with this interpreter's bin dir first on PATH,
as `make demo` does with the venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PART = Path(__file__).resolve().parents[1] / "demo" / "part2_images.sh"


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "the demo runs containers and kernel overlay mounts: needs root"
    for tool in ("docker-registry", "runc", "jq"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not os.access("/bin/busybox", os.X_OK):
        return "busybox-static is not installed"
    return None


@pytest.mark.timeout(90)
def test_demo_part2(tmp_path: Path) -> None:
    why = _missing()
    if why:
        pytest.skip(why)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TMPDIR": str(tmp_path),
    }
    env.pop("LAYERFS_ROOT", None)
    proc = subprocess.run(["bash", str(PART)], capture_output=True, text=True, env=env,
                          timeout=80)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    assert "DEMO FAILED" not in proc.stderr
    assert "Part 2 showed every step the seed describes." in proc.stdout
    for line in ("Docker Root Dir: ", "Storage Driver: ", "graphDriverName: overlay",
                 "Total reclaimed space: "):
        assert line in proc.stdout, line
    assert list(tmp_path.iterdir()) == [], "the demo removes its scratch dir"
    registries = subprocess.run(["pgrep", "-f", f"docker-registry serve {tmp_path}"],
                                capture_output=True, text=True, check=False).stdout
    assert registries == "", "the demo stops its registry"
