"""Images in the store: import, add from any Image, sharing, tags, rmi, gc, bad input."""

from __future__ import annotations

import io
import os
import stat

import pytest

from archive.tars import d, f, sym, tar_bytes, wh
from layerfs.digest import Digest
from layerfs.errors import Conflict, DigestMismatch, InvalidInput, InvalidLayer, NotFound
from layerfs.oci.chain import chain_ids
from layerfs.store.put import add_image
from layerfs.store.rootfs import import_rootfs
from layerfs.store.store import Store
from store.helpers import MemoryImage, MemoryLayer, listing, read, rows

BASE = tar_bytes([d("etc"), f("etc/os-release", b"ID=test\n"), d("bin"), f("bin/sh", b"#!", 0o755)])
APP = tar_bytes([d("app"), f("app/main.py", b"print(1)\n"), wh("etc/.wh.os-release")])


def test_add_image_keeps_digests_and_unpacks(store: Store) -> None:
    image = MemoryImage([BASE, APP])
    rec = add_image(store, image, ["app:1"])
    assert rec.id == image.config().digest()
    assert rec.tags == ("app:1",)
    stored = store.image("app:1")
    assert stored.config() == image.config()
    assert [lay.diff_id() for lay in stored.layers()] == list(image.config().diff_ids)
    assert [lay.digest() for lay in stored.layers()] == [lay.digest() for lay in image.layers()]
    top = stored.store_layers()[-1]
    assert top.chain_id == chain_ids(image.config().diff_ids)[-1]
    assert read(os.path.join(top.path, "app/main.py")) == "print(1)\n"
    # the whiteout is in the kernel's on-disk form, not a .wh. file
    assert not os.path.exists(os.path.join(top.path, "etc/.wh.os-release"))
    st = os.lstat(os.path.join(top.path, "etc/os-release"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    with stored.layers()[0].uncompressed() as s:
        assert s.read() == BASE
    assert stored.lowerdirs()[0] == top.path


def test_shared_base_is_stored_once(store: Store) -> None:
    for i in range(5):
        extra = tar_bytes([f(f"file{i}", str(i).encode())])
        add_image(store, MemoryImage([BASE, extra]), [f"img{i}"])
    assert len(store.images()) == 5
    assert len(store.layers()) == 6  # one base + five tops
    base_chain = Digest.of_bytes(BASE)
    assert sum(1 for lay in store.layers() if lay.chain_id == base_chain) == 1


def test_add_is_idempotent(store: Store) -> None:
    image = MemoryImage([BASE])
    a = add_image(store, image, ["x"])
    before = listing(store.paths.root)
    b = add_image(store, image, ["x"])
    assert a.id == b.id and listing(store.paths.root) == before


def test_import_tar_dir_and_stream(store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tar = tmp_path / "rootfs.tar"
    tar.write_bytes(BASE)
    a = import_rootfs(store, str(tar), ["a"])
    root = tmp_path / "tree"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n")
    b = import_rootfs(store, str(root), ["b"], message="from a dir")
    c = import_rootfs(store, io.BytesIO(BASE), ["c"])
    assert a.size == len(BASE) and len(store.image("a").layers()) == 1
    assert store.image("b").config().history[0].comment == "from a dir"
    assert store.image("c").layers()[0].diff_id() == Digest.of_bytes(BASE)
    diff = store.image("b").store_layers()[0].path
    assert read(os.path.join(diff, "etc/hosts")) == "127.0.0.1 localhost\n"
    assert {r.id for r in store.images()} >= {a.id, b.id, c.id}


def test_import_compressed_keeps_blob(store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    layer = MemoryLayer(BASE)
    path = tmp_path / "rootfs.tar.gz"
    path.write_bytes(layer.blob)
    rec = import_rootfs(store, str(path), ["gz"])
    stored = store.image(rec.id.hex[:12]).layers()[0]
    assert stored.digest() == layer.digest() and stored.diff_id() == layer.diff_id()


def test_resolve_by_name_id_and_prefix(store: Store) -> None:
    rec = add_image(store, MemoryImage([BASE]), ["busybox"])
    assert store.image("busybox").id == rec.id
    assert store.image("busybox:latest").id == rec.id
    assert store.image(str(rec.id)).id == rec.id
    assert store.image(rec.id.hex[:8]).id == rec.id
    with pytest.raises(NotFound):
        store.image("nothere")


def test_tag_and_rmi(store: Store) -> None:
    rec = add_image(store, MemoryImage([BASE, APP]), ["one"])
    store.tag("one", "two:v2")
    assert store.image("two:v2").id == rec.id
    with pytest.raises(Conflict):
        store.remove_images([rec.id.hex[:12]])  # two names: must be forced
    res = store.remove_images(["one"])
    assert res.untagged == ("one:latest",) and res.deleted == ()
    res = store.remove_images(["two:v2"])
    assert res.deleted == (rec.id,)
    assert store.images() == [] and store.layers() == []
    assert list(store.blobs.digests()) == []


def test_rmi_keeps_shared_layers(store: Store) -> None:
    add_image(store, MemoryImage([BASE, APP]), ["a"])
    add_image(store, MemoryImage([BASE]), ["b"])
    store.remove_images(["a"])
    assert [lay.diff_id for lay in store.layers()] == [Digest.of_bytes(BASE)]
    assert store.image("b").layers()[0].diff_id() == Digest.of_bytes(BASE)


def test_rmi_refuses_image_used_by_snapshot(store: Store) -> None:
    from layerfs.store.snapshots import Snapshotter

    rec = add_image(store, MemoryImage([BASE]), ["used"])
    Snapshotter(store).prepare("c1", rec.top_chain, labels={"image": str(rec.id)})
    with pytest.raises(Conflict, match="c1"):
        store.remove_images(["used"])
    assert store.image("used").id == rec.id
    res = store.remove_images(["used"], force=True)
    assert res.untagged == ("used:latest",) and res.deleted == ()
    assert store.image(rec.id.hex).id == rec.id


def test_tag_moves_to_new_image(store: Store) -> None:
    old = add_image(store, MemoryImage([BASE]), ["app"])
    new = add_image(store, MemoryImage([BASE, APP]), ["app"])
    assert store.image("app").id == new.id
    assert store.image(old.id.hex).record.tags == ()


@pytest.mark.parametrize(
    "members",
    [
        [f("../escape", b"x")],
        [f("/abs", b"x")],
        [sym("link", "/etc"), f("link/passwd", b"x")],
        [wh("a/.wh..."), f("ok", b"")],
    ],
    ids=["dotdot", "absolute", "through-symlink", "bad-whiteout"],
)
def test_hostile_layer_leaves_store_unchanged(store: Store, members) -> None:  # type: ignore[no-untyped-def]
    add_image(store, MemoryImage([BASE]), ["base"])
    before, before_rows = listing(store.paths.root), rows(store)
    with pytest.raises(InvalidLayer):
        add_image(store, MemoryImage([BASE, tar_bytes(members)]), ["bad"])
    assert listing(store.paths.root) == before
    assert rows(store) == before_rows


def test_digest_mismatch_leaves_store_unchanged(store: Store) -> None:
    image = MemoryImage([BASE, APP])
    layer = image.layers()[1]
    layer.blob = layer.blob[:20] + bytes([layer.blob[20] ^ 0xFF]) + layer.blob[21:]
    before = listing(store.paths.root)
    with pytest.raises((DigestMismatch, InvalidInput)):
        add_image(store, image, ["bad"])
    assert listing(store.paths.root) == before
    assert store.images() == []


def test_bad_names_are_refused(store: Store) -> None:
    for bad in ("UPPER", "a b", "x:bad tag", "x@sha256:00"):
        with pytest.raises(InvalidInput):
            add_image(store, MemoryImage([BASE]), [bad])
    assert store.images() == []
