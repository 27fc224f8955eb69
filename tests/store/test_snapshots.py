"""containerd's snapshot API over the store: mounts as data, then real kernel mounts."""

from __future__ import annotations

import os
import stat

import pytest

from archive.tars import d, f, tar_bytes, wh
from layerfs.errors import Conflict, InvalidInput, NotFound
from layerfs.mounts.mount import Mount
from layerfs.store.put import add_image
from layerfs.store.snapshots import Snapshotter
from layerfs.store.store import Store
from store.helpers import MemoryImage, read

BASE = tar_bytes([d("etc"), f("etc/a", b"base a\n"), f("etc/b", b"base b\n")])
TOP = tar_bytes([d("etc"), f("etc/c", b"top c\n"), wh("etc/.wh.b")])


@pytest.fixture
def image(store: Store):  # type: ignore[no-untyped-def]
    return add_image(store, MemoryImage([BASE, TOP]), ["img"])


def test_prepare_returns_overlay_mount(store: Store, image) -> None:  # type: ignore[no-untyped-def]
    snap = Snapshotter(store)
    [m] = snap.prepare("c1", image.top_chain)
    lowers = store.lowerdirs(image.top_chain)
    base = store.paths.snapshot("c1")
    assert m.type == "overlay"
    assert m.option("lowerdir") == ":".join(lowers)
    assert m.option("upperdir") == os.path.join(base, "upper")
    assert m.option("workdir") == os.path.join(base, "work")
    assert snap.mounts("c1") == [m]
    assert os.path.isdir(os.path.join(base, "upper"))
    with pytest.raises(Conflict):
        snap.prepare("c1", image.top_chain)
    with pytest.raises(InvalidInput):
        snap.prepare("../evil", None)
    with pytest.raises(NotFound):
        snap.prepare("c2", "sha256:" + "0" * 64)


def test_bind_rules(store: Store, image) -> None:  # type: ignore[no-untyped-def]
    snap = Snapshotter(store)
    base_chain = store.layer(image.top_chain).parent
    assert snap.prepare("nop", None) == [
        Mount("bind", os.path.join(store.paths.snapshot("nop"), "upper"), ("rw", "rbind"))
    ]
    [one] = snap.view("v1", base_chain)
    assert one == Mount("bind", store.paths.layer_diff(base_chain), ("ro", "rbind"))
    [two] = snap.view("v2", image.top_chain)
    assert two.type == "overlay" and two.option("upperdir") is None
    assert two.option("lowerdir") == ":".join(store.lowerdirs(image.top_chain))


def test_walk_stat_usage_remove(store: Store, image) -> None:  # type: ignore[no-untyped-def]
    snap = Snapshotter(store)
    snap.prepare("c1", image.top_chain, labels={"image": str(image.id)})
    kinds = sorted((i.kind, i.name) for i in snap.walk())
    assert ("active", "c1") in kinds
    assert sum(1 for k, _ in kinds if k == "committed") == 2
    info = snap.stat("c1")
    assert info.parent == image.top_chain and info.labels == {"image": str(image.id)}
    upper = os.path.join(store.paths.snapshot("c1"), "upper")
    with open(os.path.join(upper, "big"), "wb") as fh:
        fh.write(b"x" * 100_000)
    usage = snap.usage("c1")
    assert usage.size >= 100_000 and usage.inodes == 2
    snap.remove("c1")
    assert not os.path.exists(store.paths.snapshot("c1"))
    with pytest.raises(NotFound):
        snap.stat("c1")


def test_commit_makes_a_layer(store: Store, image) -> None:  # type: ignore[no-untyped-def]
    snap = Snapshotter(store)
    snap.prepare("c1", image.top_chain)
    upper = os.path.join(store.paths.snapshot("c1"), "upper")
    os.mkdir(os.path.join(upper, "etc"))
    with open(os.path.join(upper, "etc/new"), "w") as fh:
        fh.write("new\n")
    info = snap.commit("mylayer", "c1")
    assert info.kind == "committed" and info.parent == image.top_chain
    assert info.chain_id is not None
    layer = store.layer(info.chain_id)
    assert layer.parent == image.top_chain
    assert read(os.path.join(store.paths.layer_diff(info.chain_id), "etc/new")) == "new\n"
    assert not os.path.exists(store.paths.snapshot("c1"))
    # the named layer can parent a new snapshot, and removing the name frees it
    snap.prepare("c2", "mylayer")
    snap.remove("c2")
    snap.remove("mylayer")
    assert not store.has_layer(info.chain_id)


@pytest.mark.skipif(os.geteuid() != 0, reason="kernel overlay mounts need root")
def test_kernel_mount_of_prepared_snapshot(store: Store, image, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from layerfs.mounts import kernel

    snap = Snapshotter(store)
    [m] = snap.prepare("c1", image.top_chain)
    target = tmp_path / "merged"
    target.mkdir()
    kernel.mount(m, str(target))
    try:
        assert sorted(os.listdir(target / "etc")) == ["a", "c"]  # b is whited out
        (target / "etc/a").write_text("changed\n")
        os.unlink(target / "etc/c")
    finally:
        kernel.umount(str(target), lazy=True)
    upper = os.path.join(store.paths.snapshot("c1"), "upper")
    assert read(os.path.join(upper, "etc/a")) == "changed\n"
    st = os.lstat(os.path.join(upper, "etc/c"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    info = snap.commit("changed", "c1")
    assert info.chain_id is not None
    [v] = snap.view("v", "changed")
    kernel.mount(v, str(target))
    try:
        assert sorted(os.listdir(target / "etc")) == ["a"]
        assert (target / "etc/a").read_text() == "changed\n"
    finally:
        kernel.umount(str(target), lazy=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="kernel overlay mounts need root")
def test_remove_refuses_a_mounted_snapshot(store: Store, image) -> None:  # type: ignore[no-untyped-def]
    from layerfs.mounts import kernel

    snap = Snapshotter(store)
    [m] = snap.prepare("c1", image.top_chain)
    merged = os.path.join(store.paths.snapshot("c1"), "merged")
    os.mkdir(merged)
    kernel.mount(m, merged)
    try:
        with pytest.raises(Conflict, match="still mounted"):
            snap.remove("c1")
        assert sorted(os.listdir(os.path.join(merged, "etc"))) == ["a", "c"]
        assert snap.stat("c1").kind == "active"
    finally:
        kernel.umount(merged, lazy=True)
    snap.remove("c1")
    assert not os.path.exists(store.paths.snapshot("c1"))
