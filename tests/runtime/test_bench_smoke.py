"""`bench/containers.py --quick` still runs (a smoke run; it checks the shape of the
results and the disk bound, never the speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.conftest import requires_runtime

BENCH = Path(__file__).resolve().parents[2] / "bench" / "containers.py"


@requires_runtime
@pytest.mark.timeout(120)
def test_containers_bench_quick(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--count", "2", "--json", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["count"] == 2 and report["within_64KiB"] is True
    rows = {r["workload"].split(" (")[0]: r for r in report["rows"]}
    assert set(rows) >= {"create", "start", "stop", "total", "disk per container"}
    for row in rows.values():
        assert isinstance(row["layerfs"], float) and row["layerfs"] > 0
        assert isinstance(row["layerfs-lib"], float) and row["layerfs-lib"] > 0
    assert list(tmp_path.iterdir()) == [], "the bench removes its fixture"
