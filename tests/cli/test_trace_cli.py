"""`layerfs trace`, `layerfs changes`, `layerfs inspect-mount` on real kernel overlays."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from layerfs.cli.main import cli

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="kernel overlay mounts need root")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _umount(target: Path) -> None:
    while os.path.ismount(target):
        if subprocess.run(["umount", str(target)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(target)], check=True)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """The seed's lab, mounted: modify.txt changed, delete.txt deleted, new.txt created."""
    d = {n: tmp_path / n for n in ("l1", "l2", "u", "w", "m")}
    for p in d.values():
        p.mkdir()
    (d["l2"] / "base.txt").write_text("base\n")
    (d["l2"] / "modify.txt").write_text("orig\n")
    (d["l2"] / "delete.txt").write_text("bye\n")
    (d["l1"] / "top.txt").write_text("top\n")
    opts = f"lowerdir={d['l1']}:{d['l2']},upperdir={d['u']},workdir={d['w']}"
    if os.geteuid() != 0:
        pytest.skip("kernel overlay mounts need root")
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(d["m"])], check=True)
    try:
        (d["m"] / "modify.txt").write_text("changed\n")
        (d["m"] / "delete.txt").unlink()
        (d["m"] / "new.txt").write_text("new\n")
        yield d
    finally:
        _umount(d["m"])


@needs_root
def test_trace_on_a_mounted_overlay(lab: dict[str, Path]) -> None:
    res = run("trace", str(lab["m"] / "base.txt"))
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split() == ["WIN", "LAYER", "STATE", "SIZE", "REALPATH", "NOTE"]
    assert lines[3].split()[:4] == ["*", "lowerdir", "2", "file"]
    assert lines[-1] == (
        f"/base.txt: read: served from lowerdir 2 ({lab['l2']}/base.txt); "
        "a write would copy it up to upperdir first"
    )
    res = run("trace", "--json", str(lab["m"] / "delete.txt"))
    data = json.loads(res.output)
    assert (data["winner"], data["error"], data["mount_point"]) == (None, "ENOENT",
                                                                   str(lab["m"]))
    assert [r["state"] for r in data["rows"]] == ["whiteout", "absent", "hidden"]
    res = run("trace", "--json", str(lab["m"]))
    assert json.loads(res.output)["winner"] == 0
    res = run("trace", "--json", str(lab["m"] / "gone/dir/f"))
    assert json.loads(res.output)["reason"] == "/gone does not exist in the union"


@needs_root
def test_trace_with_options(lab: dict[str, Path]) -> None:
    opts = f"lowerdir={lab['l1']}:{lab['l2']},upperdir={lab['u']}"
    res = run("trace", "--json", "-o", opts, "/modify.txt")
    data = json.loads(res.output)
    assert data["winner"] == 0 and data["mount_point"] is None
    assert data["rows"][0]["realpath"] == f"{lab['u']}/modify.txt"
    res = run("trace", "-o", f"lowerdir={lab['l1']}", "/top.txt")
    assert res.exit_code == 0 and "read-only" in res.output
    res = run("trace", "-o", f"upperdir={lab['u']}", "/x")
    assert res.exit_code == 1 and "lowerdir= is required" in res.output


def test_trace_outside_an_overlay(tmp_path: Path) -> None:
    res = run("trace", str(tmp_path))
    assert res.exit_code == 1
    assert "not an overlay" in res.output


@needs_root
def test_changes_forms(lab: dict[str, Path]) -> None:
    expected = "D /delete.txt\nC /modify.txt\nA /new.txt\n"
    res = run("changes", str(lab["u"]), "--lower", str(lab["l1"]), "--lower", str(lab["l2"]))
    assert (res.exit_code, res.output) == (0, expected)
    res = run("changes", str(lab["u"]), "--lower", f"{lab['l1']}:{lab['l2']}")
    assert res.output == expected
    assert run("changes", str(lab["m"])).output == expected
    res = run("changes", "--json", "-s", str(lab["m"]))
    assert json.loads(res.output) == [
        {"kind": "D", "path": "/delete.txt", "size": 0},
        {"kind": "C", "path": "/modify.txt", "size": 8},
        {"kind": "A", "path": "/new.txt", "size": 4},
    ]
    assert run("changes", "-s", str(lab["m"])).output.splitlines()[1] == "C /modify.txt  8B"
    res = run("changes", "--rules", "podman", str(lab["m"]))
    assert res.output == expected


def test_changes_of_a_plain_directory_needs_lowers(tmp_path: Path) -> None:
    res = run("changes", str(tmp_path))
    assert res.exit_code == 1 and "not an overlay" in res.output


@needs_root
def test_inspect_mount_table_and_json(lab: dict[str, Path]) -> None:
    res = run("inspect-mount", str(lab["m"]))
    assert res.exit_code == 0, res.output
    out = res.output.splitlines()
    assert out[0] == f"{lab['m']}: overlay (source 'overlay', options from mountinfo)"
    header = next(i for i, line in enumerate(out) if line.startswith("LAYER"))
    assert out[header].split() == ["LAYER", "PATH", "SIZE", "DISK", "FILES", "DIRS",
                                   "WHITEOUTS"]
    rows = [line.split() for line in out[header + 1 : header + 4]]
    assert [r[0] for r in rows] == ["upperdir", "lowerdir", "lowerdir"]
    assert rows[0][1:3] == [str(lab["u"]), "12B"] and rows[0][-1] == "1"
    assert out[-1].startswith("upperdir: 1 added, 1 changed, 1 deleted; 12B (12 bytes, ")
    data = json.loads(run("inspect-mount", "--json", str(lab["m"])).output)
    assert [la["layer"] for la in data["layers"]] == ["upperdir", "lowerdir 1", "lowerdir 2"]
    assert data["layers"][2]["files"] == 3 and data["workdir"] == str(lab["w"])
    assert data["upper"]["added"] == 1 and data["upper"]["bytes"] == 12


@needs_root
def test_inspect_read_only_overlay(tmp_path: Path) -> None:
    for n in ("a", "b", "m"):
        (tmp_path / n).mkdir()
    (tmp_path / "a/f").write_text("f")
    opts = f"lowerdir={tmp_path / 'a'}:{tmp_path / 'b'}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(tmp_path / "m")],
                   check=True)
    try:
        res = run("inspect-mount", str(tmp_path / "m"))
        assert res.exit_code == 0, res.output
        assert res.output.splitlines()[-1] == "read-only overlay: no upperdir, nothing changes"
        assert json.loads(run("inspect-mount", "--json", str(tmp_path / "m")).output)[
            "upper"] is None
        res = run("changes", str(tmp_path / "m"))
        assert res.exit_code == 1 and "read-only overlay" in res.output
    finally:
        _umount(tmp_path / "m")
