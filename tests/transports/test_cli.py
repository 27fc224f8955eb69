"""The transfer commands: copy between every transport, save/load, pull/push (against
the in-process fake registry), errors as one line and exit code 1."""

from __future__ import annotations

import os

from click.testing import CliRunner

from layerfs.cli.main import cli
from layerfs.transports.locations import Location

from .fakeregistry import fake_registry


def _run(store, *args: str, code: int = 0) -> str:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, ["--root", store.paths.root, *args])
    assert result.exit_code == code, result.output
    return result.output


def test_location_parsing():
    assert Location.parse("oci:/tmp/x:v1") == Location("oci", "/tmp/x", "v1")
    assert Location.parse("docker-archive:a.tar:foo:1") == Location("docker-archive", "a.tar",
                                                                    "foo:1")
    assert Location.parse("busybox:1") == Location("store", "busybox:1")
    assert Location.parse("containers-storage:x") == Location("store", "x")
    assert Location.parse("docker://h:5000/a:1") == Location("docker", "h:5000/a:1")
    assert str(Location.parse("oci-archive:f.tar:t")) == "oci-archive:f.tar:t"


def test_copy_through_every_file_transport(store, tmp_path):
    image_id = str(store.image("sample:1").id)
    lay, oa, da = tmp_path / "lay", tmp_path / "o.tar", tmp_path / "d.tar"
    _run(store, "copy", "sample:1", f"oci:{lay}:v1")
    _run(store, "copy", f"oci:{lay}:v1", f"oci-archive:{oa}:v1")
    _run(store, "copy", f"oci-archive:{oa}:v1", f"docker-archive:{da}:hop:1")
    out = _run(store, "copy", f"docker-archive:{da}", "store:final:1")
    assert out.strip() == image_id
    assert "final" in _run(store, "images")


def test_save_load_both_formats(store, tmp_path):
    for fmt in ("docker-archive", "oci-archive"):
        out = tmp_path / f"{fmt}.tar"
        _run(store, "save", "-o", str(out), "--format", fmt, "sample:1")
        _run(store, "rmi", "sample:1")
        assert _run(store, "load", "-q", "-i", str(out)) == "Loaded image: sample:1\n"
    with open(tmp_path / "oci-archive.tar", "rb") as f:
        piped = CliRunner().invoke(cli, ["--root", store.paths.root, "load"], input=f.read())
    assert piped.exit_code == 0 and piped.output == "Loaded image: sample:1\n", piped.output
    err = _run(store, "load", "-i", str(tmp_path / "missing.tar"), code=1)
    assert err.startswith("layerfs: error:") and "missing.tar" in err


def test_push_pull_commands(store):
    with fake_registry() as reg:
        dest = f"127.0.0.1:{reg.port}/team/app:1"
        digest = _run(store, "push", "sample:1", dest, "--tls-verify=false", "-q").strip()
        assert digest == str(store.image("sample:1").digest())
        image_id = _run(store, "pull", dest, "--tls-verify=false", "-q").strip()
        assert image_id == str(store.image("sample:1").id)
        assert f"127.0.0.1:{reg.port}/team/app" in _run(store, "images")
        missing = _run(store, "pull", f"127.0.0.1:{reg.port}/nope:1", "--tls-verify=false",
                       code=1)
        assert "HTTP 404" in missing and "MANIFEST_UNKNOWN" in missing
        assert not [n for n in os.listdir(store.paths.root) if ".tmp-" in n]
        # skopeo's per-side options
        other = f"docker://127.0.0.1:{reg.port}/team/copy:1"
        _run(store, "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false",
             f"docker://{dest}", other)
        refused = _run(store, "copy", "-q", "--src-tls-verify=false", f"docker://{dest}",
                       f"docker://127.0.0.1:{reg.port}/team/copy:2", code=1)
        assert "cannot connect" in refused
