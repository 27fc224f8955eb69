"""Pulls resume across runs: a pull killed mid-blob (kill -9) leaves its partial download
in `ingest/partial/`, recovery and fsck keep it, and the next pull asks only for the
missing bytes (Range) and verifies the whole blob."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from layerfs.store.fsck import fsck
from layerfs.store.partial import partial_dir
from layerfs.store.put import add_image
from layerfs.store.store import Store
from layerfs.transports.registry.client import RegistryClient
from layerfs.transports.registry.pull import open_image
from layerfs.transports.registry.push import push_image
from layerfs.transports.registry.reference import RegistryRef
from store.helpers import MemoryImage

from .fakeregistry import State, fake_registry
from .samples import tar_of

BIG = 4 << 20
LAYERFS = os.path.join(os.path.dirname(sys.executable), "layerfs")


@pytest.fixture
def reg() -> Iterator[State]:
    with fake_registry() as state:
        try:
            yield state
        finally:
            state.release.set()


def _publish(reg: State, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """Push a one-layer image with an incompressible ~4 MiB blob; its blob digest."""
    image = MemoryImage([tar_of({"big": os.urandom(BIG)})])
    with Store.open(str(tmp_path / "src")) as src:
        add_image(src, image, ["big:1"])
        client = RegistryClient(f"127.0.0.1:{reg.port}", tls_verify=False)
        push_image(client, RegistryRef.parse(f"127.0.0.1:{reg.port}/app:1"), src.image("big:1"))
    return str(image.layers()[0].digest())


def _pull(root: str, reg: State) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [LAYERFS, "--root", root, "pull", "-q", "--tls-verify=false",
         f"127.0.0.1:{reg.port}/app:1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def _settled_size(path: str) -> int:
    """The size of `path` once it stops growing (the client wrote what it received)."""
    last, since = -1, time.monotonic()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        size = os.path.getsize(path) if os.path.exists(path) else -1
        if size != last:
            last, since = size, time.monotonic()
        elif size > 0 and time.monotonic() - since > 0.5:
            return size
        time.sleep(0.05)
    raise AssertionError(f"{path} never settled")


def test_killed_pull_resumes_with_a_range_request(reg, tmp_path):
    blob = _publish(reg, tmp_path)
    root = str(tmp_path / "store")
    part = os.path.join(root, "ingest", "partial", blob.removeprefix("sha256:") + ".part")
    reg.stall_after = BIG // 2 + 12345
    proc = _pull(root, reg)
    try:
        assert reg.stalled.wait(60), proc.communicate(timeout=5)
        kept = _settled_size(part)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert 0 < kept <= reg.stall_after
    with Store.open(root) as store:  # recovery rolls back the dead ingest, not the partial
        report = fsck(store)
        assert report.clean, report.problems
        fsck(store, repair=True)
    assert os.path.getsize(part) == kept
    reg.ranges.clear()
    done = subprocess.run([LAYERFS, "--root", root, "pull", "-q", "--tls-verify=false",
                           f"127.0.0.1:{reg.port}/app:1"], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert reg.ranges[-1] == f"bytes={kept}-"  # only the missing bytes
    assert not os.path.exists(os.path.dirname(part))  # the partial landed as the blob
    with Store.open(root) as store:
        assert fsck(store, deep=True).clean
        image = store.image(f"127.0.0.1:{reg.port}/app:1")
        assert str(image.manifest().layers[0].digest) == blob


def test_bad_partial_prefix_starts_again(reg, tmp_path):
    blob = _publish(reg, tmp_path)
    with Store.open(str(tmp_path / "store")) as store:
        os.makedirs(partial_dir(store))
        bad = os.path.join(partial_dir(store), blob.removeprefix("sha256:") + ".part")
        with open(bad, "wb") as f:
            f.write(b"not the blob" * 100)
        client = RegistryClient(f"127.0.0.1:{reg.port}", tls_verify=False)
        ref = RegistryRef.parse(f"127.0.0.1:{reg.port}/app:1")
        reg.ranges.clear()
        add_image(store, open_image(client, ref), ["x:1"])
        assert reg.ranges[-2:] == ["bytes=1200-", None]  # resumed, refused, from scratch
        assert not os.path.exists(partial_dir(store))
        assert fsck(store, deep=True).clean


def test_stale_partials_are_pruned(store):
    os.makedirs(partial_dir(store))
    old = os.path.join(partial_dir(store), "ab" * 32 + ".part")
    with open(old, "wb") as f:
        f.write(b"x")
    assert fsck(store).clean  # fresh: a pull may come back for it
    os.utime(old, (0, 0))
    assert [p.kind for p in fsck(store).problems] == ["stale-partial"]
    assert fsck(store, repair=True).problems[0].repaired
    assert not os.path.exists(old) and fsck(store).clean
