"""`bench/union_engine.py --quick` still runs (the benchmark is not a test; this keeps it
from rotting). It checks the shape of the results, never the speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "union_engine.py"


@pytest.mark.timeout(60)
def test_union_engine_bench_quick(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    targets = ["native", "layerfs"] + (["kernel"] if os.geteuid() == 0 else [])
    rows = report["rows"]
    workloads = [r["workload"] for r in rows]
    for prefix in (
        "lstat existing",
        "lstat missing",
        "readdir merged",
        "read small files",
        "copy-up small files",
    ):
        assert any(w.startswith(prefix) for w in workloads), (prefix, workloads)
    assert sum(w.startswith("read ") and "MiB file" in w for w in workloads) == 2
    assert sum(w.startswith("copy-up ") and "MiB" in w for w in workloads) == 2
    for r in rows:
        for t in targets:
            assert isinstance(r[t], float) and r[t] > 0, (r["workload"], t, r[t])
        assert r["layerfs/native"] > 0
    if os.geteuid() == 0:
        assert all(r["layerfs/kernel"] > 0 for r in rows)
        assert len(report["verdict"]) == 2 and all("layerfs/kernel" in v for v in report["verdict"])
    assert list(tmp_path.iterdir()) == [], "the bench removes its fixture"
