"""layerfs against Debian's docker-registry and skopeo: push/pull round trips, and skopeo
copies of layerfs's OCI layout to the registry and back with identical digests."""

from __future__ import annotations

import json
import shutil
import subprocess

from click.testing import CliRunner

from layerfs.cli.main import cli
from layerfs.store.store import Store

from .conftest import need


def _layerfs(root: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--root", root, *args])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def _skopeo(*args: str) -> str:
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_push_pull_round_trip(registry, store, tmp_path):
    image = store.image("sample:1")
    root = store.paths.root
    ref = f"{registry.host}/layerfs/sample:1"
    digest = _layerfs(root, "push", "-q", "--tls-verify=false", "sample:1", ref)
    assert digest == str(image.digest())
    chunked = _layerfs(root, "push", "-q", "--tls-verify=false", "--chunk-size", "100",
                       "sample:1", f"{registry.host}/layerfs/chunked:1")
    assert chunked == digest
    other = str(tmp_path / "other")
    assert _layerfs(other, "pull", "-q", "--tls-verify=false", ref) == str(image.id)
    with Store.open(other) as s2:
        assert s2.image(ref).digest() == image.digest()
    # registry to registry: the blobs are mounted from the source repository
    _layerfs(root, "copy", "-q", "--tls-verify=false", f"docker://{ref}",
             f"docker://{registry.host}/elsewhere/sample:2")
    log = registry.log.read_text()
    assert "mount=" in log and ("from=layerfs%2Fsample" in log or "from=layerfs/sample" in log)
    if shutil.which("skopeo"):
        info = json.loads(_skopeo("inspect", "--tls-verify=false",
                                  f"docker://{registry.host}/elsewhere/sample:2"))
        assert info["Digest"] == digest


def test_skopeo_copies_layerfs_layout_with_identical_digests(registry, store, tmp_path):
    need("skopeo", root=False)
    root = store.paths.root
    lay, back = tmp_path / "lay", tmp_path / "back"
    digest = _layerfs(root, "copy", "-q", "sample:1", f"oci:{lay}:v1")
    ref = f"docker://{registry.host}/skopeo/sample:v1"
    _skopeo("copy", "--dest-tls-verify=false", f"oci:{lay}:v1", ref)
    _skopeo("copy", "--src-tls-verify=false", ref, f"oci:{back}:v1")
    index = json.loads((back / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [digest]
    assert json.loads(_skopeo("inspect", "--tls-verify=false", ref))["Digest"] == digest
    # and layerfs reads what skopeo wrote, both ways
    other = str(tmp_path / "other")
    _layerfs(other, "copy", "-q", f"oci:{back}:v1", "store:fromskopeo:1")
    _layerfs(other, "pull", "-q", "--tls-verify=false", ref.removeprefix("docker://"))
    with Store.open(other) as s2:
        assert s2.image("fromskopeo:1").id == store.image("sample:1").id
        assert s2.image(f"{registry.host}/skopeo/sample:v1").digest() == store.image(
            "sample:1").digest()
