"""Fixtures for the interop tests: a docker-registry on 127.0.0.1:<free port> (our own
config, stopped by PID), podman/buildah with a private storage root and a temp
containers.conf (PEERS.md), and an image they built from a busybox-static base."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from transports.conftest import store  # noqa: F401 - the same fixture here


def need(*tools: str, root: bool = True) -> None:
    """Skip (with the reason) when a peer binary is missing, or root is needed and we are
    not root (podman/buildah/umoci with a private storage root)."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    if root and os.geteuid() != 0:
        pytest.skip("needs root (peer tools run with a private storage root)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:<port>
    log: Path


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Iterator[Registry]:  # type: ignore[no-untyped-def]
    need("docker-registry", root=False)
    d = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = d / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n"
        f"storage:\n  filesystem:\n    rootdirectory: {d / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = d / "registry.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"docker-registry did not start: {log.read_text()}") from None
                time.sleep(0.05)
        yield Registry(f"127.0.0.1:{port}", log)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass(frozen=True)
class Peer:
    """podman/buildah/skopeo commands with a private storage root."""

    root: Path
    runroot: str  # podman refuses a runroot of more than 50 characters
    env: dict[str, str]

    def run(self, tool: str, *args: str, stdin: bytes | None = None) -> str:
        cmd = [tool]
        if tool in ("podman", "buildah"):
            cmd += ["--root", str(self.root / "root"), "--runroot", self.runroot,
                    "--storage-driver", "vfs"]
        proc = subprocess.run([*cmd, *args], input=stdin, capture_output=True, env=self.env,
                              timeout=300)
        if proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd + list(args))}: {proc.stderr.decode()}")
        return proc.stdout.decode()


def make_peer(root: Path) -> Peer:
    """A peer storing under `root`; remove its runroot with `drop_peer`."""
    root.mkdir(parents=True, exist_ok=True)
    hard = subprocess.run(["sh", "-c", "ulimit -Hn"], capture_output=True, text=True).stdout
    conf = root / "containers.conf"
    conf.write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={hard.strip()}:{hard.strip()}", "nproc=32768:32768"]\n'
        'netns = "none"\n[engine]\nruntime = "runc"\n'
    )
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    return Peer(root, tempfile.mkdtemp(prefix="lfs-run-"), env)


def drop_peer(peer: Peer) -> None:
    shutil.rmtree(peer.runroot, ignore_errors=True)


@pytest.fixture
def new_peer(tmp_path) -> Iterator[Peer]:  # type: ignore[no-untyped-def]
    """An empty peer storage (for loading what layerfs saved)."""
    peer = make_peer(tmp_path / "peer2")
    try:
        yield peer
    finally:
        drop_peer(peer)


BUILT = "localhost/built:1"
CONTAINERFILE = """FROM localhost/bbase:1
RUN echo hi > /hello && mkdir -p /data && echo x > /data/f && echo keep > /data/k
ENV A=1
RUN rm /data/f && echo y > /data/g
COPY file.txt /file.txt
CMD ["sh"]
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Iterator[Peer]:  # type: ignore[no-untyped-def]
    """A peer whose storage holds BUILT: busybox-static base + 3 layers, a whiteout."""
    need("podman", "buildah", "busybox")
    d = tmp_path_factory.mktemp("peer")
    base = d / "base"
    (base / "bin").mkdir(parents=True)
    shutil.copy(shutil.which("busybox") or "", base / "bin" / "busybox")
    subprocess.run(["chroot", str(base), "/bin/busybox", "--install", "-s", "/bin"], check=True)
    subprocess.run(["tar", "-C", str(base), "-cf", str(d / "base.tar"), "."], check=True)
    ctx = d / "ctx"
    ctx.mkdir()
    (ctx / "file.txt").write_text("content\n")
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    peer = make_peer(d)
    try:
        peer.run("podman", "import", str(d / "base.tar"), "localhost/bbase:1")
        peer.run("buildah", "bud", "--layers", "--network", "none", "-t", BUILT, str(ctx))
        yield peer
    finally:
        drop_peer(peer)
