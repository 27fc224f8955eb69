"""fsck finds every broken invariant; --repair removes only what nothing references."""

from __future__ import annotations

import os

from archive.tars import d, f, tar_bytes
from layerfs.store.fsck import fsck
from layerfs.store.put import add_image
from layerfs.store.store import Store
from store.helpers import MemoryImage

BASE = tar_bytes([d("etc"), f("etc/a", b"base a\n")])
TOP = tar_bytes([f("top", b"top\n")])


def kinds(report) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(p.kind for p in report.problems if not p.repaired)


def test_clean_store(store: Store) -> None:
    add_image(store, MemoryImage([BASE, TOP]), ["x"])
    report = fsck(store, deep=True)
    assert report.clean, report.problems
    assert report.checked == {"blobs": 4, "layers": 2, "images": 1}


def test_corrupt_and_missing_blobs(store: Store) -> None:
    rec = add_image(store, MemoryImage([BASE, TOP]), ["x"])
    layer_blob = store.image("x").layers()[1].digest()
    with open(store.paths.blob(layer_blob), "r+b") as fh:
        fh.write(b"\0")
    os.unlink(store.paths.blob(rec.manifest_digest))
    report = fsck(store)
    assert kinds(report) == ["bad-image", "corrupt-blob", "missing-blob"]
    assert not fsck(store, repair=True).clean  # referenced content is never removed


def test_deep_finds_changed_layer(store: Store) -> None:
    add_image(store, MemoryImage([BASE]), ["x"])
    diff = store.image("x").store_layers()[0].path
    assert fsck(store).clean
    with open(os.path.join(diff, "etc/a"), "a") as fh:
        fh.write("tampered")
    assert fsck(store).clean  # only --deep reads layer content
    assert kinds(fsck(store, deep=True)) == ["layer-changed"]


def test_missing_layer_dir(store: Store) -> None:
    add_image(store, MemoryImage([BASE]), ["x"])
    layer = store.layers()[0]
    os.rename(store.paths.layer(layer.chain_id), store.paths.root + "/moved")
    assert "missing-layer-dir" in kinds(fsck(store))
    report = fsck(store, repair=True)
    assert report.clean and [p.kind for p in report.problems] == ["missing-layer-dir"]
    assert fsck(store, deep=True).clean  # the same content as before


def test_orphans_found_and_repaired(store: Store) -> None:
    add_image(store, MemoryImage([BASE]), ["x"])
    orphan_blob = os.path.join(store.paths.blobs, "ab" * 32)
    with open(orphan_blob, "wb") as fh:
        fh.write(b"junk")
    os.makedirs(os.path.join(store.paths.layers, "cd" * 32, "diff"))
    os.makedirs(os.path.join(store.paths.containers, "ghost", "upper"))
    os.makedirs(os.path.join(store.paths.ingest, "dead-ingest"))
    report = fsck(store)
    assert kinds(report) == [
        "interrupted-ingest",
        "orphan-blob",
        "orphan-layer-dir",
        "orphan-snapshot-dir",
    ]
    repaired = fsck(store, repair=True)
    assert repaired.clean and len(repaired.problems) == 4
    assert fsck(store, deep=True).clean
    assert not os.path.exists(orphan_blob)
    assert store.image("x").config().diff_ids  # referenced content survived


def test_unreferenced_layer_repaired(store: Store) -> None:
    add_image(store, MemoryImage([BASE, TOP]), ["x"])
    with store.transaction() as db:  # simulate an image row lost without its layers
        db.execute("DELETE FROM images")
    assert "unreferenced-layer" in kinds(fsck(store))
    assert fsck(store, repair=True).clean
    assert store.layers() == [] and list(store.blobs.digests()) == []
