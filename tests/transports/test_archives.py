"""OCI layout, oci-archive and docker-archive: round trips through the store, both
docker layouts, detection for load, and hostile archives (store unchanged)."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile

import pytest

from layerfs.digest import Digest
from layerfs.errors import DigestMismatch, InvalidInput, NotFound
from layerfs.oci import mediatypes as mt
from layerfs.oci.index import Index
from layerfs.store.put import add_image
from layerfs.transports import docker_archive, layout, loadsave, oci_archive
from layerfs.transports._files import TarFiles
from store.helpers import listing, rows

from .samples import sample_image, tar_of


def _tar(path: str, members: dict[str, bytes], links: dict[str, str] | None = None) -> None:
    with tarfile.open(path, "w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)


def _unchanged(store, fn):  # type: ignore[no-untyped-def]
    """Run `fn`, which must raise; the store's files and rows are as before."""
    before, before_rows = listing(store.paths.root), rows(store)
    with pytest.raises((InvalidInput, NotFound)) as info:
        fn()
    assert listing(store.paths.root) == before
    assert rows(store) == before_rows
    return info.value


def test_layout_round_trip_keeps_config_and_tags(store, tmp_path):
    image = store.image("sample:1")
    d = str(tmp_path / "lay")
    desc = layout.save_dir(d, image, "v1")
    layout.save_dir(d, image, "v2")
    assert layout.tags(layout.DirFiles(d), d) == ["v1", "v2"]
    back = layout.open_dir(d, "v2")
    assert back.digest() == desc.digest
    assert back.raw_config() == image.raw_config()
    assert [lay.diff_id() for lay in back.layers()] == list(image.config().diff_ids)
    with open(os.path.join(d, "oci-layout")) as f:
        assert json.load(f) == {"imageLayoutVersion": "1.0.0"}
    with pytest.raises(NotFound, match="v1, v2"):
        layout.open_dir(d, "nope")
    with pytest.raises(InvalidInput, match="name one with :TAG"):
        layout.open_dir(d)
    rec = add_image(store, back, ["again:1"])
    assert rec.id == image.id


def test_layout_index_platform_selection(store, tmp_path):
    d = str(tmp_path / "lay")
    desc = layout.save_dir(d, store.image("sample:1"))
    from layerfs.oci.descriptor import Descriptor
    from layerfs.oci.platform import Platform

    sub = Index((Descriptor(desc.media_type, desc.digest, desc.size,
                            platform=Platform("linux", "arm64", "v8")),
                 Descriptor(desc.media_type, desc.digest, desc.size,
                            platform=Platform("linux", "amd64"))))
    data = sub.to_json()
    sink = layout.DirSink(d)
    sink.put_bytes(layout.blob_name(Digest.of_bytes(data)), data)
    layout.write_index(sink, [Descriptor(mt.OCI_INDEX, Digest.of_bytes(data), len(data),
                                         {layout.ANNOTATION_REF_NAME: "multi"})])
    img = layout.open_dir(d, "multi", Platform.parse("linux/arm64"))
    assert img.digest() == desc.digest
    with pytest.raises(NotFound, match="linux/amd64"):
        layout.open_dir(d, "multi", Platform.parse("linux/s390x"))


def test_layout_corrupt_blob_leaves_store_unchanged(store, tmp_path):
    d = str(tmp_path / "lay")
    layout.save_dir(d, store.image("sample:1"), "v1")
    store.remove_images(["sample:1"])
    top = layout.open_dir(d, "v1").layers()[-1].digest()
    path = os.path.join(d, layout.blob_name(top))
    with open(path, "r+b") as f:
        f.seek(-20, os.SEEK_END)
        byte = f.read(1)
        f.seek(-20, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0xFF]))
    err = _unchanged(store, lambda: add_image(store, layout.open_dir(d, "v1"), ["x:1"]))
    assert isinstance(err, DigestMismatch)


def test_layout_missing_blob_and_symlinked_blob(store, tmp_path):
    d = str(tmp_path / "lay")
    layout.save_dir(d, store.image("sample:1"), "v1")
    store.remove_images(["sample:1"])
    base = layout.open_dir(d, "v1").layers()[0].digest()
    path = os.path.join(d, layout.blob_name(base))
    os.rename(path, path + ".moved")
    _unchanged(store, lambda: add_image(store, layout.open_dir(d, "v1"), ["x:1"]))
    os.symlink(path + ".moved", path)  # right bytes, but a link: never followed
    _unchanged(store, lambda: add_image(store, layout.open_dir(d, "v1"), ["x:1"]))


def test_oci_archive_round_trip_two_images(store, tmp_path):
    add_image(store, type(sample_image())([tar_of({"x": b"x"})]), ["other:2"])
    out = str(tmp_path / "o.tar")
    oci_archive.save_archive(out, [(store.image("sample:1"), "sample:1"),
                                   (store.image("other:2"), "other:2")])
    assert oci_archive.archive_tags(out) == ["sample:1", "other:2"]
    image, files = oci_archive.open_archive(out, "other:2")
    with files:
        assert image.raw_config() == store.image("other:2").raw_config()
    store.remove_images(["sample:1", "other:2"])
    loaded = loadsave.load(store, out)
    assert [tags for _, tags in loaded] == [["sample:1"], ["other:2"]]
    assert {t for rec, _ in loaded for t in rec.tags} == {"sample:1", "other:2"}


def test_docker_archive_round_trip(store, tmp_path):
    image = store.image("sample:1")
    out = str(tmp_path / "d.tar")
    loadsave.save(store, ["sample:1"], out)
    files = TarFiles(out)
    with files:
        assert loadsave.archive_kind(files) == "docker-archive"
        manifest = json.loads(files.open("manifest.json").read())
        assert manifest[0]["RepoTags"] == ["sample:1"]
        assert manifest[0]["Config"] == f"{image.id.hex}.json"
        assert json.loads(files.open("repositories").read())["sample"]["1"]
    back, files = docker_archive.open_archive(out, "sample:1")
    with files:
        assert back.config() == image.config()
        assert [lay.digest() for lay in back.layers()] == list(image.config().diff_ids)
        assert back.manifest().media_type == mt.DOCKER_MANIFEST
    store.remove_images(["sample:1"])
    [(rec, _)] = loadsave.load(store, out)
    assert rec.id == image.id
    gz = tmp_path / "d.tar.gz"
    with open(out, "rb") as f:
        gz.write_bytes(gzip.compress(f.read(), compresslevel=1))
    store.remove_images(["sample:1"])
    [(rec, tags)] = loadsave.load(store, str(gz))
    assert rec.id == image.id and tags == ["sample:1"]


def test_docker_archive_classic_layout_symlinks_and_gzip(store, tmp_path):
    """docker's classic save: `<id>/layer.tar`, a repeated layer as a symlink, and a
    gzip layer (docker load accepts those too)."""
    t1, t2 = tar_of({"a": b"1"}), tar_of({"b": b"2"})
    from layerfs.oci.config import HistoryEntry, ImageConfig

    cfg = ImageConfig("amd64", "linux")
    for t in (t1, t2, t1):
        cfg = cfg.with_layer(Digest.of_bytes(t), HistoryEntry(created_by="x"))
    raw = cfg.to_json()
    path = str(tmp_path / "classic.tar")
    _tar(path, {
        "manifest.json": json.dumps([{"Config": f"{cfg.digest().hex}.json",
                                      "RepoTags": ["classic:1"],
                                      "Layers": ["l1/layer.tar", "l2/layer.tar",
                                                 "l3/layer.tar"]}]).encode(),
        f"{cfg.digest().hex}.json": raw,
        "l1/layer.tar": t1,
        "l2/layer.tar": gzip.compress(t2, mtime=0),
    }, links={"l3/layer.tar": "../l1/layer.tar"})
    [(rec, tags)] = loadsave.load(store, path)
    assert tags == ["classic:1"] and rec.id == cfg.digest()
    layers = store.image("classic:1").layers()
    assert [lay.media_type() for lay in layers] == [mt.DOCKER_LAYER, mt.DOCKER_LAYER_GZIP,
                                                    mt.DOCKER_LAYER]


@pytest.mark.parametrize("case", ["escape", "absolute_link", "bad_json", "wrong_diff_id",
                                  "missing_layer", "not_archive", "count"])
def test_hostile_docker_archives(store, tmp_path, case):
    t1 = tar_of({"a": b"1"})
    from layerfs.oci.config import HistoryEntry, ImageConfig

    cfg = ImageConfig("amd64", "linux").with_layer(
        Digest.of_bytes(tar_of({"z": b"z"}) if case == "wrong_diff_id" else t1),
        HistoryEntry())
    layer_name = {"escape": "../../etc/passwd", "absolute_link": "l/layer.tar",
                  "missing_layer": "nope.tar"}.get(case, "l.tar")
    manifest = [{"Config": "c.json", "RepoTags": ["h:1"], "Layers": [layer_name]}]
    if case == "count":
        manifest[0]["Layers"] = [layer_name, layer_name]
    members = {"manifest.json": b"[{" if case == "bad_json" else json.dumps(manifest).encode(),
               "c.json": cfg.to_json(), "l.tar": t1}
    if case == "not_archive":
        members = {"hello": b"x"}
    path = str(tmp_path / "h.tar")
    _tar(path, members, {"l/layer.tar": "/etc/passwd"} if case == "absolute_link" else None)
    err = _unchanged(store, lambda: loadsave.load(store, path))
    if case == "bad_json":
        assert "manifest.json: malformed JSON" in str(err)
    if case == "wrong_diff_id":
        assert isinstance(err, DigestMismatch)


def test_save_refuses_and_keeps_existing_file(store, tmp_path):
    out = tmp_path / "keep.tar"
    out.write_bytes(b"old")
    with pytest.raises(NotFound):
        loadsave.save(store, ["sample:1", "missing:1"], str(out), "oci-archive")
    assert out.read_bytes() == b"old"
    assert os.listdir(tmp_path).count("keep.tar") == 1
    assert not [n for n in os.listdir(tmp_path) if ".tmp-" in n]


def test_docker_archive_one_entry_per_image_with_all_names(store, tmp_path):
    store.tag("sample:1", "alias:2")
    out = str(tmp_path / "d.tar")
    loadsave.save(store, ["sample:1", "alias:2"], out)
    with TarFiles(out) as files:
        [entry] = docker_archive.entries(files)
        assert entry.repo_tags == ("sample:1", "alias:2")
    image, files = docker_archive.open_archive(out, "docker.io/library/alias:2")
    with files:
        assert image.raw_config() == store.image("sample:1").raw_config()
    store.remove_images(["sample:1", "alias:2"])
    [(rec, tags)] = loadsave.load(store, out)
    assert set(rec.tags) == {"sample:1", "alias:2"} == set(tags)
