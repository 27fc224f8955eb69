"""Garbage collection: what nothing references, and removing it.

References: a layer is referenced by image rows, snapshots (as parent or as the named
layer), child layers, the build cache and live leases (the `layer_refcounts` view); a
blob by image rows (config = image id, manifest, layer blobs) and live leases.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from layerfs.digest import Digest
from layerfs.store import partial
from layerfs.store.durable import remove_tree

if TYPE_CHECKING:
    from layerfs.store.store import Store


@dataclass(frozen=True)
class GcResult:
    """What a collection removed and how many bytes of files that freed."""

    layers: tuple[Digest, ...]
    blobs: tuple[Digest, ...]
    freed: int


_LAYER_REFS = """
SELECT (SELECT refcount FROM layer_refcounts WHERE chain_id = :d)
     - (SELECT COUNT(*) FROM lease_resources WHERE lease = :lease AND kind = 'layer' AND ref = :d)
"""


def unreferenced_layer(store: Store, chain_id: Digest, exclude_lease: str = "") -> bool:
    """True if the layer has no row, or nothing but lease `exclude_lease` references it."""
    row = store.db.execute(_LAYER_REFS, {"d": str(chain_id), "lease": exclude_lease}).fetchone()
    return row[0] is None or row[0] == 0


_BLOB_REFS = """
SELECT 1 FROM images WHERE id = :d OR manifest_digest = :d
UNION ALL SELECT 1 FROM image_layers WHERE blob_digest = :d
UNION ALL SELECT 1 FROM lease_resources WHERE kind = 'blob' AND ref = :d AND lease != :lease
LIMIT 1
"""


def unreferenced_blob(store: Store, digest: Digest, exclude_lease: str = "") -> bool:
    """True if nothing but lease `exclude_lease` references the blob."""
    params = {"d": str(digest), "lease": exclude_lease}
    return store.db.execute(_BLOB_REFS, params).fetchone() is None


def referenced_blobs(store: Store) -> set[Digest]:
    """Every blob digest some row names (present on disk or not)."""
    q = """
    SELECT id FROM images UNION SELECT manifest_digest FROM images
    UNION SELECT blob_digest FROM image_layers
    UNION SELECT ref FROM lease_resources WHERE kind = 'blob'
    """
    return {Digest.parse(r[0]) for r in store.db.execute(q)}


def unreferenced_layers(store: Store) -> list[Digest]:
    q = "SELECT chain_id FROM layer_refcounts WHERE refcount = 0 ORDER BY chain_id"
    return [Digest.parse(r[0]) for r in store.db.execute(q)]


def _tree_size(path: str) -> int:
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except FileNotFoundError:
                continue
    return total


GC_FLAG = "gc_running"


def _set_flag(store: Store, on: bool) -> None:
    with store.transaction() as db:
        if on:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, '1')", (GC_FLAG,))
        else:
            db.execute("DELETE FROM meta WHERE key = ?", (GC_FLAG,))


def interrupted(store: Store) -> bool:
    """True if a collection was cut short (kill -9): the next writer resumes it."""
    q = "SELECT 1 FROM meta WHERE key = ?"
    return store.db.execute(q, (GC_FLAG,)).fetchone() is not None


def _leased_layers(store: Store) -> set[str]:
    q = "SELECT ref FROM lease_resources WHERE kind = 'layer'"
    return {Digest.parse(r[0]).hex for r in store.db.execute(q)}


def collect(store: Store) -> GcResult:
    """Remove every layer and blob nothing references (layers top-down). Takes the lock.

    Restartable: a flag row is set for the duration, and a store opened after a crash
    mid-way runs the collection again (which also removes a layer dir whose row was
    already deleted).
    """
    removed_layers: list[Digest] = []
    removed_blobs: list[Digest] = []
    freed = 0
    with store.lock:
        _set_flag(store, True)
        while True:
            doomed = unreferenced_layers(store)
            if not doomed:
                break
            for chain in doomed:
                freed += _tree_size(store.paths.layer(chain))
                store.delete_layer(chain)
                removed_layers.append(chain)
        known = {layer.chain_id.hex for layer in store.layers()} | _leased_layers(store)
        for name in os.listdir(store.paths.layers):
            if name not in known and not name.startswith("."):
                remove_tree(os.path.join(store.paths.layers, name))
        referenced = referenced_blobs(store)
        for digest in store.blobs.digests():
            if digest not in referenced:
                path = store.paths.blob(digest)
                freed += os.lstat(path).st_size
                remove_tree(path)
                removed_blobs.append(digest)
        partial.prune(store)  # downloads whose blob landed, or untouched for long
        _set_flag(store, False)
    return GcResult(tuple(removed_layers), tuple(removed_blobs), freed)
