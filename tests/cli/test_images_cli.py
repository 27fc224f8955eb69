"""The image commands end to end through click: import, images, tag, inspect --format,
history, export, rmi, fsck; and the Go-template subset behind --format."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from click.testing import CliRunner

from layerfs.cli._gotemplate import render
from layerfs.cli._humantime import human_duration
from layerfs.cli.main import cli
from layerfs.errors import InvalidInput


@pytest.fixture
def run(tmp_path):  # type: ignore[no-untyped-def]
    root = str(tmp_path / "store")

    def invoke(*args: str, ok: bool = True):  # type: ignore[no-untyped-def]
        result = CliRunner().invoke(cli, ["--root", root, *args], catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result

    return invoke


@pytest.fixture
def rootfs(tmp_path) -> str:  # type: ignore[no-untyped-def]
    tree = tmp_path / "rootfs"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/hostname").write_text("box\n")
    (tree / "bin").mkdir()
    (tree / "bin/tool").write_bytes(b"\x7fELF" + b"x" * 5000)
    return str(tree)


def test_import_images_tag_history_inspect(run, rootfs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    image_id = run("import", rootfs, "mybase:1.0").output.strip()
    assert image_id.startswith("sha256:")
    run("tag", "mybase:1.0", "other")
    table = run("images").output.splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(line.split()[:3] == ["mybase", "1.0", image_id[7:19]] for line in table[1:])
    assert run("images", "-q").output.split() == [image_id[7:19]]
    rows = json.loads(run("images", "--json").output)
    assert {(r["Repository"], r["Tag"]) for r in rows} == {("mybase", "1.0"), ("other", "latest")}
    assert run("images", "other", "--format", "{{.Repository}}:{{.Tag}}").output == "other:latest\n"

    hist = run("history", "mybase:1.0").output.splitlines()
    assert hist[0].split()[:2] == ["IMAGE", "CREATED"] and "COMMENT" in hist[0]
    assert hist[1].startswith(image_id[7:19]) and "<missing>" not in hist[1]
    entries = json.loads(run("history", "--json", "--no-trunc", "mybase:1.0").output)
    assert entries[0]["created_by"].startswith("layerfs import") and entries[0]["size"] > 5000

    [obj] = json.loads(run("inspect", "mybase:1.0").output)
    assert obj["Id"] == image_id and sorted(obj["RepoTags"]) == ["mybase:1.0", "other:latest"]
    assert len(obj["RootFS"]["Layers"]) == 1 and obj["Os"] == "linux"
    layers = run("inspect", "--format", "{{json .RootFS.Layers}}", "other").output
    assert json.loads(layers) == obj["RootFS"]["Layers"]
    upper = run("inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", "other").output.strip()
    assert upper.endswith("/diff")
    assert run("inspect", "nope", ok=False).exit_code == 1
    typed = run("inspect", "--type", "image", "-f", "{{.Id}}", "other").output.strip()
    assert typed == image_id


def test_export_rmi_fsck(run, rootfs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run("import", rootfs, "box")
    out = tmp_path / "out.tar"
    run("export", "box", "-o", str(out))
    with tarfile.open(out) as tf:
        names = sorted(n.rstrip("/").removeprefix("./") for n in tf.getnames())
    assert names == ["bin", "bin/tool", "etc", "etc/hostname"]
    report = json.loads(run("fsck", "--deep", "--json").output)
    assert report["clean"] and report["checked"]["images"] == 1
    assert run("rmi", "box").output.splitlines()[0] == "Untagged: box:latest"
    assert run("images", "--json").output.strip() == "[]"
    assert "clean" in run("fsck").output


def test_import_from_stdin_and_errors(run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("../escape")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    root = str(tmp_path / "store")
    bad = CliRunner().invoke(cli, ["import", "--root", root, "-", "evil"], input=buf.getvalue())
    assert bad.exit_code == 1 and "escape" in bad.output
    assert run("images", "--json").output.strip() == "[]"
    assert run("rmi", "ghost", ok=False).exit_code == 1
    assert run("fsck").exit_code == 0


def test_go_template_subset() -> None:
    data = {"Id": "sha256:1", "Config": {"Env": ["A=1", "B=2"], "Cmd": None, "Labels": {"k": "v"}}}
    assert render("{{.Id}}", data) == "sha256:1"
    assert render("{{json .Config.Env}}", data) == '["A=1","B=2"]'
    assert render("{{range .Config.Env}}{{.}};{{end}}", data) == "A=1;B=2;"
    assert render('{{index .Config.Labels "k"}}', data) == "v"
    assert render('{{join .Config.Env ","}}', data) == "A=1,B=2"
    assert render("{{.Config.Env}} {{.Missing}}", data) == "[A=1 B=2] <no value>"
    assert render("{{if .Config.Cmd}}y{{else}}n{{end}}", data) == "n"
    with pytest.raises(InvalidInput):
        render("{{range .Config.Env}}", data)
    with pytest.raises(InvalidInput):
        render("{{nosuch .Id}}", data)


def test_human_duration_like_docker() -> None:
    assert human_duration(0.2) == "Less than a second"
    assert human_duration(45) == "45 seconds"
    assert human_duration(61) == "About a minute"
    assert human_duration(3 * 3600) == "3 hours"
    assert human_duration(3 * 86400) == "3 days"
