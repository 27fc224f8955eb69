"""`layerfs info`: docker's text (the lines the seed greps), JSON, podman's YAML, Go
templates; the storage driver probe (kernel overlay, or FUSE when forced/not permitted)
leaves nothing behind; the counts follow the store (the library's probe and host
facts: tests/runtime/test_info.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from layerfs.cli.info import binary_size, yaml_text
from layerfs.cli.main import cli


@pytest.fixture
def root(tmp_path: Path) -> str:
    return str(tmp_path / "store")


def _info(root: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(cli, ["--root", root, "info", *args], env=env,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_text_has_the_lines_the_seed_greps(root: str) -> None:
    lines = _info(root).splitlines()
    assert f" Docker Root Dir: {root}" in lines
    driver = [ln for ln in lines if "Storage Driver" in ln]
    assert len(driver) == 1
    if os.geteuid() == 0:
        assert driver == [" Storage Driver: overlay"]
    for wanted in (" Containers: 0", "  Running: 0", "  Paused: 0", "  Stopped: 0",
                   " Images: 0", "  Supports d_type: true", "  Native Overlay Diff: true",
                   f" Kernel Version: {os.uname().release}", f" CPUs: {os.cpu_count()}"):
        assert wanted in lines, wanted
    assert any(ln.startswith(" Cgroup Version: ") for ln in lines)
    assert any(ln.startswith(" Default Runtime: ") for ln in lines)


def test_probe_leaves_no_mount_and_no_dir(root: str) -> None:
    _info(root)
    assert os.listdir(os.path.join(root, "ingest")) == []
    with open("/proc/self/mountinfo") as f:
        assert root not in f.read()
    assert not [n for n in os.listdir(os.path.join(root, "layers")) if "probe" in n]


def test_json_has_dockers_fields(root: str) -> None:
    data = json.loads(_info(root, "--format", "json"))
    assert data == json.loads(_info(root, "--json"))
    assert data["DockerRootDir"] == root
    assert data["Images"] == 0 and data["Containers"] == 0
    assert data["OSType"] == "linux" and data["NCPU"] == os.cpu_count()
    assert dict(map(tuple, data["DriverStatus"]))["Supports d_type"] == "true"
    if os.geteuid() == 0:
        assert data["Driver"] == "overlay"


def test_go_template(root: str) -> None:
    out = _info(root, "--format", "{{.DockerRootDir}} {{.Images}} {{json .Runtimes}}")
    path, images, runtimes = out.strip().split(" ", 2)
    assert (path, images) == (root, "0")
    assert json.loads(runtimes)


def test_podman_yaml_has_graph_driver_name(root: str) -> None:
    lines = _info(root, "--format", "yaml").splitlines()
    assert "  graphDriverName: overlay" in lines
    assert f"  graphRoot: {root}" in lines
    assert "store:" in lines and "host:" in lines


def test_fuse_forced(root: str) -> None:
    env = {"LAYERFS_ROOTFS": "fuse"}
    lines = _info(root, env=env).splitlines()
    driver = "fuse-overlay" if os.path.exists("/dev/fuse") else "none"
    assert f" Storage Driver: {driver}" in lines
    assert "  Kernel Overlay: LAYERFS_ROOTFS=fuse" in lines
    yaml_lines = _info(root, "--format", "yaml", env=env).splitlines()
    assert "  graphDriverName: overlay" in yaml_lines
    if driver == "fuse-overlay":
        assert "    overlay.mount_program: layerfs-fuse" in yaml_lines


def test_counts_follow_the_store(root: str, tmp_path: Path) -> None:
    tree = tmp_path / "rootfs"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "tool").write_text("x\n")
    runner = CliRunner()
    assert runner.invoke(cli, ["--root", root, "import", "-q", str(tree), "base"]).exit_code == 0
    created = runner.invoke(cli, ["--root", root, "create", "--name", "c1", "base", "/bin/tool"])
    assert created.exit_code == 0, created.output
    data = json.loads(_info(root, "--json"))
    assert (data["Images"], data["Containers"], data["ContainersRunning"]) == (1, 1, 0)
    assert data["ContainersStopped"] == 1  # docker counts "created" as stopped
    assert ["Layers", "1"] in data["DriverStatus"]


def test_formatting_helpers() -> None:
    assert binary_size(25276518400) == "23.54GiB"
    assert binary_size(512) == "512B"
    assert yaml_text({"a": {"b": "true", "c": 1, "d": {}}, "e": "x: y"}) == (
        'a:\n  b: "true"\n  c: 1\n  d: {}\ne: "x: y"'
    )
