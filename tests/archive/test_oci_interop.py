"""An OCI layout written with layerfs's data model and tars, read by umoci and skopeo;
and layers written by umoci applied by layerfs."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess

import pytest

from layerfs.archive.apply import apply_tar
from layerfs.archive.compress import compress_stream, decompressed
from layerfs.archive.generate import write_tree_tar
from layerfs.digest import Digest
from layerfs.oci import mediatypes as mt
from layerfs.oci.config import HistoryEntry, ImageConfig
from layerfs.oci.descriptor import ANNOTATION_REF_NAME, Descriptor
from layerfs.oci.index import Index
from layerfs.oci.manifest import Manifest
from layerfs.union import whiteouts as whm
from layerfs.union.whiteouts import WhiteoutFormat

from .tars import snapshot
from .test_generate import make_tree

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="umoci unpack keeps owners only as root"),
    pytest.mark.skipif(not (shutil.which("umoci") and shutil.which("skopeo")),
                       reason="umoci and skopeo are not installed"),
]


def _blob(layout, data: bytes) -> Digest:
    d = Digest.of_bytes(data)
    path = layout / "blobs" / "sha256" / d.hex
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return d


def write_layout(layout, tree, tag: str = "v1") -> tuple[Manifest, bytes]:
    tar = io.BytesIO()
    gen = write_tree_tar(str(tree), tar, source_date_epoch=0)
    gz = io.BytesIO()
    comp = compress_stream(io.BytesIO(tar.getvalue()), gz, "gzip")
    assert _blob(layout, gz.getvalue()) == comp.digest
    config = ImageConfig("amd64", "linux", created="1970-01-01T00:00:00Z").with_layer(
        gen.diff_id, HistoryEntry(created="1970-01-01T00:00:00Z", created_by="layerfs test"))
    cfg = config.to_json()
    manifest = Manifest(Descriptor(mt.OCI_CONFIG, _blob(layout, cfg), len(cfg)),
                        (Descriptor(mt.OCI_LAYER_GZIP, comp.digest, comp.size),))
    raw = manifest.to_json()
    desc = Descriptor(mt.OCI_MANIFEST, _blob(layout, raw), len(raw), {ANNOTATION_REF_NAME: tag})
    (layout / "index.json").write_bytes(Index((desc,)).to_json())
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return manifest, raw


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def test_umoci_and_skopeo_read_our_layout(tmp_path):
    tree, layout = tmp_path / "tree", tmp_path / "layout"
    make_tree(tree)
    manifest, raw = write_layout(layout, tree)
    assert _run("skopeo", "inspect", "--raw", f"oci:{layout}:v1").encode() == raw
    cfg = json.loads(_run("skopeo", "inspect", "--config", "--raw", f"oci:{layout}:v1"))
    assert cfg["rootfs"]["diff_ids"] == [str(ImageConfig.parse(
        (layout / "blobs/sha256" / manifest.config.digest.hex).read_bytes()).diff_ids[0])]
    _run("umoci", "unpack", "--image", f"{layout}:v1", str(tmp_path / "bundle"))
    assert snapshot(str(tmp_path / "bundle" / "rootfs")) == snapshot(str(tree))
    # skopeo converts to Docker schema 2 without touching the blobs: we parse its output
    _run("skopeo", "copy", "--format", "v2s2", f"oci:{layout}:v1", f"dir:{tmp_path / 'dir'}")
    docker = Manifest.parse((tmp_path / "dir" / "manifest.json").read_bytes())
    assert docker.is_docker and docker.layers[0].media_type == mt.DOCKER_LAYER_GZIP
    assert docker.layers[0].digest == manifest.layers[0].digest
    assert docker.config.media_type == mt.DOCKER_CONFIG


def test_umoci_layers_with_whiteouts_apply(tmp_path):
    tree, layout = tmp_path / "tree", tmp_path / "layout"
    make_tree(tree)
    write_layout(layout, tree)
    bundle = tmp_path / "bundle"
    _run("umoci", "unpack", "--image", f"{layout}:v1", str(bundle))
    rootfs = bundle / "rootfs"
    os.unlink(rootfs / "big")
    shutil.rmtree(rootfs / "dir")
    (rootfs / "dir").mkdir()
    (rootfs / "dir" / "fresh").write_text("fresh")
    (rootfs / "added").write_text("added")
    _run("umoci", "repack", "--image", f"{layout}:v2", str(bundle))
    index = Index.parse((layout / "index.json").read_bytes())
    m = Manifest.parse((layout / "blobs/sha256" / index.by_ref_name("v2").digest.hex)
                       .read_bytes())
    top = m.layers[-1]
    layer = tmp_path / "layer"
    layer.mkdir()
    with decompressed(open(layout / "blobs/sha256" / top.digest.hex, "rb")) as stream:
        result = apply_tar(stream, str(layer), fmt=WhiteoutFormat.KERNEL)
    cfg = ImageConfig.parse((layout / "blobs/sha256" / m.config.digest.hex).read_bytes())
    assert result.diff_id == cfg.diff_ids[-1]
    assert whm.classify(str(layer), "big").kind is whm.EntryKind.WHITEOUT
    d = whm.scan_dir(str(layer / "dir"))
    assert "fresh" in d.entries and (d.opaque or d.whiteouts)
    assert (layer / "added").read_text() == "added"
