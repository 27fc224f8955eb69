"""`bench/build.py --quick` still runs (a benchmark, not a test: only the shape of its
report is checked, never the speed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "build.py"


@pytest.mark.timeout(180)
def test_build_bench_quick(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the build benchmark runs RUN steps: root")
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--no-buildkit", "--json", "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=170,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout)["rows"]
    assert [r["workload"] for r in rows] == ["cold", "cached", "one changed"]
    for r in rows:
        assert isinstance(r["layerfs"], float) and r["layerfs"] > 0
        assert r["buildkit"] is None
