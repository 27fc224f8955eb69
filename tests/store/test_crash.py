"""kill -9 of a writer at random moments: nothing half-visible, fsck clean afterwards."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tarfile
import time

import pytest

from layerfs.store.fsck import fsck
from layerfs.store.store import Store

WRITER = """
import sys
from layerfs.store.store import Store
from layerfs.store.rootfs import import_rootfs
store = Store.open(sys.argv[1])
print("ready", flush=True)
if sys.argv[2] == "rmi":
    store.remove_images(["big:" + sys.argv[3]])
else:
    import_rootfs(store, sys.argv[2], ["big:" + sys.argv[3]])
print("done", flush=True)
"""


def _big_tar(path: str, files: int = 1500, size: int = 16384) -> None:
    rng = random.Random(4)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for i in range(files):
            data = rng.randbytes(size)
            info = tarfile.TarInfo(f"d{i % 37}/f{i}")
            info.size = len(data)
            info.mtime = 1_600_000_000
            tf.addfile(info, __import__("io").BytesIO(data))


def _run(root: str, tar: str, tag: str, delay: float | None) -> bool:
    """Run the writer; kill -9 after `delay` seconds (None: let it finish). True if done."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, root, tar, tag], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        if delay is None:
            return proc.wait(timeout=120) == 0
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.timeout(300)
def test_kill9_during_import_leaves_store_consistent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, tar = str(tmp_path / "store"), str(tmp_path / "big.tar")
    _big_tar(tar)
    t0 = time.monotonic()
    assert _run(root, tar, "full", None)
    full = time.monotonic() - t0
    with Store.open(root) as store:
        assert fsck(store).clean
        store.remove_images(["big:full"])
    rng = random.Random(1)
    # the writer's start-up is part of `full`: spread kills over all of it and past it
    delays = sorted(rng.uniform(0.02, full * 1.1) for _ in range(8))
    for n, delay in enumerate(delays):
        finished = _run(root, tar, str(n), delay)
        with Store.open(root) as store:  # opening recovers the dead writer's leftovers
            report = fsck(store)
            assert report.clean, (delay, report.problems)
            names = [t for rec in store.images() for t in rec.tags]
            assert names in ([], [f"big:{n}"]), names
            if finished:
                assert names == [f"big:{n}"]
            if names:  # a visible image is complete
                assert fsck(store, deep=True).clean
                store.remove_images(names)
            assert os.listdir(store.paths.ingest) == []
            assert store.layers() == [] and list(store.blobs.digests()) == []


@pytest.mark.timeout(300)
def test_kill9_during_rmi_leaves_store_consistent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, tar = str(tmp_path / "store"), str(tmp_path / "big.tar")
    _big_tar(tar, files=1500, size=4096)
    rng = random.Random(2)
    for n in range(4):
        assert _run(root, tar, str(n), None)
        finished = _run(root, "rmi", str(n), rng.uniform(0.05, 0.6))
        with Store.open(root) as store:
            report = fsck(store)
            assert report.clean, report.problems
            names = [t for rec in store.images() for t in rec.tags]
            assert names in ([], [f"big:{n}"])
            if finished:
                assert names == []
            if names:
                assert fsck(store, deep=True).clean
                store.remove_images(names)
            assert store.layers() == [] and list(store.blobs.digests()) == []
            assert os.listdir(store.paths.layers) == []
