"""Engine storage read without a daemon: podman's containers-storage (a real one, made
by skopeo under a temp --root) and Docker's overlay2 (a fixture in moby's layout built
here: imagedb, layerdb, overlay2/<cache-id>/diff). Each must analyse exactly like the
docker-archive the image came from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from layerfs.analysis.dive import analyze
from layerfs.analysis.sources import open_source
from layerfs.archive.apply import apply_tar
from layerfs.oci.chain import chain_ids
from layerfs.transports.docker_archive import open_archive
from layerfs.union.whiteouts import WhiteoutFormat

IMAGE = ("FROM busybox\nRUN mkdir /d && echo 1 > /d/a && dd if=/dev/zero of=/w bs=1k count=30\n"
         "RUN rm -rf /d /bin/vi && echo 22 > /w\n")


def summary(image: Any) -> Any:
    a = analyze(image)
    return (a.total_size, a.wasted_bytes, [(la.diff_id, la.size, la.created_by,
                                            sorted((c.kind, c.path, c.size) for c in la.changes))
                                           for la in a.layers])


@pytest.fixture(scope="module")
def archive(lab: Any) -> str:
    lab.build("eng:1", IMAGE)
    return lab.save("eng:1")


def test_containers_storage(archive: str, tmp_path: Path) -> None:
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    root, run = tmp_path / "storage", tmp_path / "run"
    dest = f"containers-storage:[overlay@{root}+{run}]localhost/eng:1"
    subprocess.run(["skopeo", "copy", "-q", f"docker-archive:{archive}", dest], check=True,
                   capture_output=True, timeout=120)
    try:
        with open_source(f"docker-archive:{archive}") as img:
            want = summary(img)
        with open_source(f"containers-storage:[overlay@{root}+{run}]localhost/eng:1") as img:
            assert summary(img) == want
        with open_source("containers-storage:eng:1", storage_root=str(root)) as img:
            assert summary(img) == want
    finally:
        subprocess.run(["umount", "-R", "-l", str(root / "overlay")], capture_output=True,
                       check=False)


def docker_root(archive: str, root: Path) -> str:
    """/var/lib/docker as moby's overlay2 driver lays it out, for the archive's image."""
    image, files = open_archive(archive)
    meta = root / "image" / "overlay2"
    content = meta / "imagedb" / "content" / "sha256"
    content.mkdir(parents=True)
    config = image.raw_config()
    image_id = image.manifest().config.digest.hex
    (content / image_id).write_bytes(config)
    diff_ids = list(image.config().diff_ids)
    for i, (layer, chain) in enumerate(zip(image.layers(), chain_ids(diff_ids), strict=True)):
        cache_id = os.urandom(32).hex()
        diff = root / "overlay2" / cache_id / "diff"
        diff.mkdir(parents=True)
        with layer.uncompressed() as stream:
            apply_tar(stream, str(diff), fmt=WhiteoutFormat.KERNEL)
        db = meta / "layerdb" / "sha256" / chain.hex
        db.mkdir(parents=True)
        (db / "diff").write_text(str(diff_ids[i]))
        (db / "cache-id").write_text(cache_id)
        (db / "size").write_text(str(layer.size()))
        if i:
            (db / "parent").write_text(str(chain_ids(diff_ids)[i - 1]))
    files.close()
    (meta / "repositories.json").write_text(json.dumps({"Repositories": {"eng": {
        "eng:1": f"sha256:{image_id}"}}}))
    return image_id


def test_docker_overlay2(archive: str, tmp_path: Path, lab: Any) -> None:
    image_id = docker_root(archive, tmp_path)
    with open_source(f"docker-archive:{archive}") as img:
        want = summary(img)
    for ref in ("eng:1", image_id[:12]):
        name = f"docker-overlay2:{tmp_path}:{ref}"
        with open_source(name) as img:
            assert summary(img) == want, name
    out = lab.cli("dive", "--json", "--source", "docker", "--storage-root", str(tmp_path), "eng:1")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["total_size"] == want[0]
