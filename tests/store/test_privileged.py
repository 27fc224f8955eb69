"""Layers from outside drop setuid/setgid bits and security.capability unless
--keep-privileged; the diff_id stays the blob's and `fsck --deep` stays clean."""

from __future__ import annotations

import os
import shutil
import stat

import pytest
from click.testing import CliRunner

from archive.tars import f, tar_bytes
from layerfs.cli.main import cli
from layerfs.digest import Digest
from layerfs.store.fsck import fsck
from layerfs.store.put import add_image
from layerfs.store.store import Store

from .helpers import MemoryImage

CAP = "security.capability"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="setuid/capabilities kept only as root")


def _tar() -> bytes:
    cap = "\x01\x00\x00\x02" + "\x00" * 16
    return tar_bytes([f("ping", b"x", mode=0o4755, pax={f"SCHILY.xattr.{CAP}": cap})])


def _ping(store: Store, ref: str) -> tuple[int, list[str]]:
    diff_id = store.image(ref).config().diff_ids[0]
    path = os.path.join(store.paths.layer_diff(diff_id), "ping")
    return stat.S_IMODE(os.lstat(path).st_mode), os.listxattr(path)


def _run(root: str, *args: str) -> tuple[str, str]:
    result = CliRunner().invoke(cli, ["--root", root, *args])
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def test_outside_layer_drops_privileged_bits(store: Store) -> None:
    notes: list[str] = []
    add_image(store, MemoryImage([_tar()]), ["x:1"], note=notes.append)
    mode, xattrs = _ping(store, "x:1")
    assert mode == 0o755 and CAP not in xattrs
    assert any("setuid" in n for n in notes) and any(CAP in n for n in notes)
    assert store.layer(Digest.of_bytes(_tar())).diff_id == Digest.of_bytes(_tar())
    assert store.image("x:1").config().diff_ids == (Digest.of_bytes(_tar()),)
    assert fsck(store, deep=True).clean


def test_fsck_repair_unpacks_with_the_same_policy(store: Store) -> None:
    add_image(store, MemoryImage([_tar()]), ["x:1"])
    shutil.rmtree(store.paths.layer_diff(Digest.of_bytes(_tar())))
    assert [p.kind for p in fsck(store, repair=True).problems] == ["missing-layer-dir"]
    assert _ping(store, "x:1")[0] == 0o755
    assert fsck(store, deep=True).clean


@needs_root
def test_keep_privileged_keeps_them(store: Store) -> None:
    notes: list[str] = []
    add_image(store, MemoryImage([_tar()]), ["x:1"], keep_privileged=True, note=notes.append)
    mode, xattrs = _ping(store, "x:1")
    assert mode == 0o4755 and CAP in xattrs and notes == []
    assert fsck(store, deep=True).clean
    shutil.rmtree(store.paths.layer_diff(Digest.of_bytes(_tar())))
    fsck(store, repair=True)
    assert _ping(store, "x:1")[0] == 0o4755  # rebuilt as it was committed
    assert fsck(store, deep=True).clean


@needs_root
def test_cli_import_and_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tar = tmp_path / "rootfs.tar"
    tar.write_bytes(_tar())
    kept, dropped = str(tmp_path / "kept"), str(tmp_path / "dropped")
    _, err = _run(kept, "import", "--keep-privileged", str(tar), "x:1")
    assert "note:" not in err
    _, err = _run(dropped, "import", str(tar), "x:1")
    assert "setuid" in err and CAP in err
    archive = str(tmp_path / "x.tar")
    _run(kept, "save", "-o", archive, "x:1")
    _run(dropped, "rmi", "x:1")
    out, err = _run(dropped, "load", "-i", archive)
    assert "Loaded image: x:1" in out and "note: layer 0: ping: setuid" in err
    fresh = str(tmp_path / "fresh")
    _, err = _run(fresh, "load", "--keep-privileged", "-i", archive)
    assert "note:" not in err
    for root, mode in ((kept, 0o4755), (dropped, 0o755), (fresh, 0o4755)):
        with Store.open(root) as s:
            assert _ping(s, "x:1")[0] == mode
            assert fsck(s, deep=True).clean
