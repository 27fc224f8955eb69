"""system df: RECLAIMABLE is what prune really frees, measured on disk before and after."""

from __future__ import annotations

import json
import os
import time

from layerfs.store.commit import layer_from_upper
from runtime.conftest import Env, requires_runtime

pytestmark = requires_runtime


def disk_bytes(root: str) -> int:
    """Allocated bytes under the store's data dirs (hard links once, mounts not entered)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for top in ("layers", "blobs", "containers", "volumes"):
        start = os.path.join(root, top)
        dev = os.lstat(start).st_dev
        for dirpath, dirs, files in os.walk(start):
            dirs[:] = [d for d in dirs if os.lstat(os.path.join(dirpath, d)).st_dev == dev]
            for name in [*dirs, *files, "."]:
                st = os.lstat(os.path.join(dirpath, name))
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
    return total


def _summary(env: Env) -> dict[str, dict[str, int]]:
    data = json.loads(env.out("system", "df", "--json"))
    return {row["kind"]: row for row in data["summary"]}


def _freed(output: str) -> str:
    return output.strip().splitlines()[-1].removeprefix("Total reclaimed space: ")


def _build_cache_entry(env: Env) -> None:
    tree = env.tmp / "cache-layer"
    tree.mkdir()
    (tree / "blob").write_bytes(os.urandom(300_000))
    with env.store() as store, store.ingest() as ingest:
        new = layer_from_upper(store, ingest, str(tree), None, compression=None)
        with store.lock, store.transaction() as db:
            db.execute(
                "INSERT INTO build_cache(key, chain_id, config, created, last_used)"
                " VALUES ('k1', ?, NULL, ?, ?)",
                (str(new.record.chain_id), time.time(), time.time()),
            )


def test_reclaimable_is_what_prune_frees(env: Env) -> None:
    env.run("run", "--name", "maker", "busybox", "sh", "-c", "head -c 3000000 /dev/urandom > /data")
    env.run("commit", "maker", "derived:1")  # shares busybox's layer
    env.run(
        "run", "--name", "maker2", "derived:1", "sh", "-c", "head -c 1000000 /dev/urandom > /d2"
    )
    env.run("commit", "maker2", "derived:2")
    env.run("run", "-d", "--name", "up", "-v", "used:/v", "busybox", "sleep", "3600")
    env.run(
        "run",
        "--name",
        "stopped",
        "-v",
        "unused:/v",
        "busybox",
        "sh",
        "-c",
        "head -c 2000000 /dev/urandom > /v/f; head -c 500000 /dev/urandom > /w",
    )
    env.run("rm", "stopped")  # the volume "unused" stays, used by nobody
    env.run("run", "--name", "stopped2", "busybox", "sh", "-c", "head -c 700000 /dev/urandom > /w")
    _build_cache_entry(env)
    verbose = env.out("system", "df", "-v")
    assert "Images space usage" in verbose and "SHARED SIZE" in verbose

    before = _summary(env)
    assert before["Images"]["total"] == 3 and before["Images"]["active"] == 2  # maker2
    assert before["Containers"]["total"] == 4 and before["Containers"]["active"] == 1
    assert before["Local Volumes"]["reclaimable"] > 2_000_000
    assert before["Build Cache"]["reclaimable"] > 300_000

    disk = disk_bytes(env.root)
    out = env.out("container", "prune", "-f")
    assert disk - disk_bytes(env.root) == before["Containers"]["reclaimable"]
    assert "Deleted Containers:" in out and _freed(out) != "0B"

    after = _summary(env)
    assert after["Containers"]["total"] == 1 and after["Containers"]["reclaimable"] == 0
    # the derived images lost their containers: now they are unused and reclaimable
    assert after["Images"]["reclaimable"] > 4_000_000
    disk = disk_bytes(env.root)
    out = env.out("system", "prune", "-a", "--volumes", "-f")
    freed = disk - disk_bytes(env.root)
    expected = sum(after[k]["reclaimable"] for k in ("Images", "Local Volumes", "Build Cache"))
    assert freed == expected, out
    final = _summary(env)
    assert final["Images"]["total"] == 1 and final["Local Volumes"]["total"] == 1
    assert all(final[k]["reclaimable"] == 0 for k in final)
    assert "clean" in env.out("fsck")
