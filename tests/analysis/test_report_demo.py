"""`make demo`'s Part 5 (demo/part5_analysis.sh) runs and shows what the seed says: the lab
images through history, dive, diff and lint with costs, and the HTML report it writes.

The part checks its own output (exit status 1 with "DEMO FAILED" at the first step that
differs); this test runs it as `make demo` does, with the interpreter of the test run
first on PATH, and checks that it leaves only the report behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PART = Path(__file__).resolve().parents[2] / "demo" / "part5_analysis.sh"


@pytest.mark.timeout(180)
def test_demo_part5(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the demo builds images with RUN steps: needs root")
    if not os.path.exists("/bin/busybox"):
        pytest.skip("busybox-static is not installed")
    scratch, reports = tmp_path / "tmp", tmp_path / "reports"
    scratch.mkdir()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TMPDIR": str(scratch),
        "LAYERFS_DEMO_REPORT_DIR": str(reports),
    }
    env.pop("LAYERFS_ROOT", None)
    proc = subprocess.run(["bash", str(PART)], capture_output=True, text=True, env=env,
                          timeout=170)
    assert proc.returncode == 0, (proc.stdout[-4000:], proc.stderr[-3000:])
    assert "DEMO FAILED" not in proc.stderr
    assert "Part 5 showed every step the seed describes." in proc.stdout
    report = reports / "layerfs-report-bad-layers.html"
    assert f"The HTML report: {report}" in proc.stdout
    assert '<svg id="layer-chart"' in report.read_text()
    assert list(scratch.iterdir()) == [], "the demo removes its scratch dir"
