"""The same action script in a podman container and in a layerfs container of the same
image (the same root file system tar imported into both): `layerfs diff` == `podman
diff`, minus the runtime's own files (RUNTIME_FILES, hidden by both when they exist)
and the unchanged copy-ups podman lists and docker does not (`diff --rules podman`
lists those too)."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from runtime.conftest import Env, requires_runtime

pytestmark = [
    requires_runtime,
    pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed"),
]

PODMAN_ONLY = {"C /bin/busybox"}
DOCKER_ONLY = {"C /var"}
RUNTIME_FILES = {"/run", "/run/.containerenv", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}
SCRIPT = """
set -e
echo new > /tmp/new
rm /etc/passwd
mkdir -p /opt/a/b && echo x > /opt/a/b/f
rm -rf /home
echo more >> /etc/group
chmod 700 /root
ln -s /nowhere /lnk
rm /bin/vi
mv /bin/ls /bin/ls2
ln /bin/busybox /usr/bb-link
chown 65534 /var/lib
mkdir /var/lib/empty && rmdir /var/lib/empty
"""


class Podman:
    """podman with a private store (a short temp dir: podman wants runroot < 50 chars)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lfpod-", dir="/tmp"))
        self.conf = self.dir / "containers.conf"
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        self.conf.write_text(
            "[containers]\n"
            f'default_ulimits = ["nofile={hard}:{hard}", "nproc=32768:32768"]\n'
            'netns = "none"\n'
            "[engine]\n"
            'runtime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        )

    def __call__(self, *args: str, check: bool = True) -> str:
        argv = ["podman", "--root", str(self.dir / "root"), "--runroot", str(self.dir / "rr")]
        argv += ["--storage-driver", "overlay", *args]
        env = {**os.environ, "CONTAINERS_CONF": str(self.conf)}
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0 or not check, proc.stderr
        return proc.stdout

    def close(self) -> None:
        self("rm", "-af", check=False)
        self("system", "reset", "-f", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def _visible(lines: str) -> list[str]:
    return [line for line in lines.splitlines() if line.split(" ", 1)[1] not in RUNTIME_FILES]


def test_layerfs_diff_equals_podman_diff(env: Env, busybox_rootfs: Path) -> None:
    tar = env.tmp / "rootfs.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(busybox_rootfs, arcname=".")
    podman = Podman()
    try:
        podman("import", str(tar), "bb:latest")
        podman("run", "--name", "p", "bb:latest", "sh", "-c", SCRIPT)
        podman_diff = podman("diff", "p")
    finally:
        podman.close()
    env.run("import", str(tar), "bb:latest")
    env.run("run", "--name", "l", "bb:latest", "sh", "-c", SCRIPT)
    layerfs_diff = env.out("diff", "l")
    assert "D /bin/vi" in layerfs_diff and "A /usr/bb-link" in layerfs_diff
    # where docker's rules (layerfs's default) and podman's differ, by design:
    # podman lists /bin/busybox, copied up for the hard link but unchanged; docker lists
    # /var, the parent of a changed dir (every ancestor of a change), podman does not
    docker_view = set(_visible(podman_diff)) - PODMAN_ONLY | DOCKER_ONLY
    assert set(_visible(layerfs_diff)) == docker_view
    assert _visible(env.out("diff", "--rules", "podman", "l")) == _visible(podman_diff)
