"""An image built by buildah (`--layers`, network none) from a busybox-static base, saved
by podman as docker-archive and oci-archive, loads into layerfs with podman's diff_ids
and history; `layerfs save` (both formats) loads into podman with the same diff_ids;
`umoci unpack` of a layerfs-written OCI layout gives the tree `layerfs export` gives."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile

import pytest
from click.testing import CliRunner

from layerfs.cli.main import cli
from layerfs.store.store import Store

from .conftest import BUILT, need


def _layerfs(root: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--root", root, *args])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def _podman_config(peer, name: str) -> dict:  # type: ignore[no-untyped-def]
    out = json.loads(peer.run("podman", "inspect", "--type", "image", name))[0]
    return {"diff_ids": out["RootFS"]["Layers"], "history": out["History"], "id": out["Id"]}


def _history(entries) -> list[tuple[str, bool]]:  # type: ignore[no-untyped-def]
    return [(h.get("created_by", ""), bool(h.get("empty_layer", False))) for h in entries]


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_podman_save_loads_into_layerfs(built, tmp_path, fmt):
    archive = tmp_path / f"{fmt}.tar"
    built.run("podman", "save", "--format", fmt, "-o", str(archive), BUILT)
    want = _podman_config(built, BUILT)
    root = str(tmp_path / "store")
    assert _layerfs(root, "load", "-q", "-i", str(archive)) == f"Loaded image: {BUILT}"
    with Store.open(root) as store:
        image = store.image(BUILT)
        config = json.loads(image.raw_config())
        assert [str(d) for d in image.config().diff_ids] == want["diff_ids"]
        assert _history(config["history"]) == _history(want["history"])
        assert image.id.hex == want["id"]
        assert len(image.layers()) == 4


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_layerfs_save_loads_into_podman(built, new_peer, tmp_path, fmt):
    src = tmp_path / "src.tar"
    built.run("podman", "save", "--format", "docker-archive", "-o", str(src), BUILT)
    root = str(tmp_path / "store")
    _layerfs(root, "load", "-q", "-i", str(src))
    out = tmp_path / "out.tar"
    _layerfs(root, "save", "-q", "--format", fmt, "-o", str(out), BUILT)
    other = new_peer
    other.run("podman", "load", "-i", str(out))
    names = json.loads(other.run("podman", "images", "--format", "json"))
    assert len(names) == 1
    got = _podman_config(other, names[0]["Id"])
    assert got["diff_ids"] == _podman_config(built, BUILT)["diff_ids"]


def _tree_of_dir(root: str) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            if stat.S_ISLNK(st.st_mode):
                what: object = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    what = ("file", hashlib.sha256(f.read()).hexdigest())
            else:
                what = ("dir",) if stat.S_ISDIR(st.st_mode) else ("other", st.st_rdev)
            out[rel] = (what, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    return out


def _tree_of_tar(data: bytes) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members = tf.getmembers()
        by_name = {m.name.removeprefix("./").rstrip("/"): m for m in members}
        for m in members:
            rel = m.name.removeprefix("./").rstrip("/")
            if rel in ("", "."):
                continue
            src = by_name[m.linkname.removeprefix("./")] if m.islnk() else m
            if src.issym():
                what: object = ("link", src.linkname)
            elif src.isfile():
                what = ("file", hashlib.sha256(tf.extractfile(src).read()).hexdigest())  # type: ignore[union-attr]
            else:
                what = ("dir",) if src.isdir() else ("other", os.makedev(src.devmajor,
                                                                         src.devminor))
            out[rel] = (what, src.mode & 0o7777, src.uid, src.gid)
    return out


def test_umoci_unpack_matches_layerfs_export(built, tmp_path):
    need("umoci")
    src = tmp_path / "src.tar"
    built.run("podman", "save", "--format", "docker-archive", "-o", str(src), BUILT)
    root = str(tmp_path / "store")
    _layerfs(root, "load", "-q", "-i", str(src))
    lay = tmp_path / "layout"
    _layerfs(root, "copy", "-q", BUILT, f"oci:{lay}:built")
    bundle = tmp_path / "bundle"
    proc = subprocess.run(["umoci", "unpack", "--image", f"{lay}:built", str(bundle)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    exported = tmp_path / "export.tar"
    _layerfs(root, "export", BUILT, "-o", str(exported))
    mine = _tree_of_tar(exported.read_bytes())
    theirs = _tree_of_dir(str(bundle / "rootfs"))
    assert "data/f" not in theirs and "data/g" in theirs and "data/k" in theirs
    assert mine == theirs


def test_layerfs_push_podman_pull(built, registry, new_peer, tmp_path):
    """podman's image, loaded into layerfs (plain layers), pushed (gzipped on the way):
    podman pulls it with the same diff_ids and image id."""
    src = tmp_path / "src.tar"
    built.run("podman", "save", "--format", "docker-archive", "-o", str(src), BUILT)
    root = str(tmp_path / "store")
    _layerfs(root, "load", "-q", "-i", str(src))
    ref = f"{registry.host}/podman/built:1"
    _layerfs(root, "push", "-q", "--tls-verify=false", BUILT, ref)
    new_peer.run("podman", "pull", "-q", "--tls-verify=false", ref)
    got = _podman_config(new_peer, ref)
    want = _podman_config(built, BUILT)
    assert got["diff_ids"] == want["diff_ids"] and got["id"] == want["id"]
