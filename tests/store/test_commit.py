"""commit_image: an upper dir becomes a new image on a base (docker commit, build steps)."""

from __future__ import annotations

import os

from archive.tars import d, f, tar_bytes
from layerfs.oci.config import ContainerConfig, HistoryEntry
from layerfs.store.commit import commit_image
from layerfs.store.fsck import fsck
from layerfs.store.put import add_image
from layerfs.store.store import Store
from store.helpers import MemoryImage, read

BASE = tar_bytes([d("etc"), f("etc/a", b"a\n"), f("etc/b", b"b\n")])


def _upper(tmp_path) -> str:  # type: ignore[no-untyped-def]
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc/new").write_text("new\n")
    if os.geteuid() == 0:
        os.mknod(upper / "etc/b", 0o020000, os.makedev(0, 0))  # kernel whiteout of etc/b
    return str(upper)


def test_commit_on_base(store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    add_image(store, MemoryImage([BASE]), ["base"])
    rec = commit_image(
        store,
        _upper(tmp_path),
        store.image("base"),
        ["app:1"],
        history=HistoryEntry(created_by="RUN make", comment="step 1"),
        config=ContainerConfig(cmd=("sh",), env=("A=1",)),
    )
    image = store.image("app:1")
    cfg = image.config()
    assert cfg.diff_ids[0] == store.image("base").config().diff_ids[0] and len(cfg.diff_ids) == 2
    assert cfg.history[-1].created_by == "RUN make" and cfg.config.cmd == ("sh",)
    assert rec.id == cfg.digest()
    top = image.store_layers()[-1]
    assert read(os.path.join(top.path, "etc/new")) == "new\n"
    with image.layers()[-1].uncompressed() as tar:
        names = tar.read()
    assert b"etc/new" in names
    if os.geteuid() == 0:
        assert b"etc/.wh.b" in names
    assert fsck(store, deep=True).clean


def test_commit_from_scratch_is_reproducible(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    ids = []
    for n in range(2):
        with Store.open(str(tmp_path / f"store{n}")) as s:
            rec = commit_image(
                s, _upper(tmp_path / f"u{n}"), None, ["x"], source_date_epoch=1700000000
            )
            ids.append((rec.id, rec.manifest_digest))
            assert s.image("x").config().created == "2023-11-14T22:13:20Z"
    assert ids[0] == ids[1]
