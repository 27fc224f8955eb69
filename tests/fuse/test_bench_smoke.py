"""`bench/fuse.py --quick` still runs and measures every row on every target it can mount
(the benchmark is not a test: this checks the shape of its output, never the speed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import fuse_unavailable

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fuse.py"


@pytest.mark.timeout(300)
def test_fuse_bench_quick(tmp_path: Path) -> None:
    reason = fuse_unavailable()
    if reason:
        pytest.skip(reason)
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--rounds", "1", "--json", "--dir",
         str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(proc.stdout)["rows"]
    targets = ["native", "layerfs"]
    if os.geteuid() == 0:
        targets.append("kernel")
    if shutil.which("fuse-overlayfs"):
        targets.append("fuse-overlayfs")
    labels = [r["workload"] for r in rows]
    for prefix in ("read", "stat", "readdir", "ENOENT", "append", "create", "unlink",
                   "python3", "tar"):
        assert any(w.startswith(prefix) for w in labels), prefix
    assert sum(w.startswith("ENOENT") for w in labels) == 4
    for r in rows:
        if r["workload"].strip().startswith("bytes added"):
            continue
        assert isinstance(r["layerfs"], float), r
        for t in targets:
            assert t in r
