"""`changes(rules="podman")` against a real `podman diff`, and inspect-mount/trace on
podman's own overlay mount (layers found in mountinfo, `l/<short>` lowerdir links)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from layerfs.mounts.mountinfo import mount_of, overlay_mount
from layerfs.union.changes import changes
from layerfs.union.trace import trace_layers

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="podman's rootful storage needs root"),
    pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed"),
]


def podman(*args: str) -> str:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_podman_diff_matches_and_its_mount_is_inspectable(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    for path, text in {"etc/passwd": "root\n", "etc/apk/repositories": "r\n",
                       "dir/sub/f": "f\n", "dir/g": "g\n", "base.txt": "base\n"}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    with tarfile.open(tmp_path / "rootfs.tar", "w") as tar:
        tar.add(root, arcname=".")
    name = f"layerfs-h2-{uuid.uuid4().hex[:10]}"
    image = f"localhost/{name}:latest"
    podman("import", str(tmp_path / "rootfs.tar"), image)
    try:
        podman("create", "--name", name, image, "/true")
        merged = Path(podman("mount", name))
        (merged / "etc/passwd").write_text("root\nx\n")
        (merged / "etc/apk/repositories").unlink()
        shutil.rmtree(merged / "dir")
        (merged / "dir").mkdir()
        (merged / "dir/new").write_text("n")
        (merged / "a/b").mkdir(parents=True)
        (merged / "new.txt").write_text("new")

        mount = overlay_mount(mount_of(str(merged)))
        assert mount.upperdir is not None and len(mount.lowerdirs) == 1
        ours = changes(mount.upperdir, list(mount.lowerdirs), rules="podman")
        theirs = podman("container", "diff", name).splitlines()
        assert sorted(str(c) for c in ours) == sorted(theirs)
        t = trace_layers(mount.lowerdirs, mount.upperdir, "/dir/g")
        assert t.winner is None and "opaque directory in upperdir" in t.summary
    finally:
        subprocess.run(["podman", "rm", "-f", name], capture_output=True, timeout=120)
        subprocess.run(["podman", "rmi", "-f", image], capture_output=True, timeout=120)
