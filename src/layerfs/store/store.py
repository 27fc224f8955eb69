"""`Store`: one local store (blobs, layers, images, snapshots) and its life cycle.

Open with `Store.open(root=None)` (default root: `paths.default_root()`), close with
`close()` or a `with` block. Readers need no lock (SQLite WAL gives them a consistent
view); every writer step that touches `blobs/`, `layers/`, `containers/` or rows takes
`store.lock`, the store's one flock. Opening a store recovers the leftovers of dead
writers (see `ingest.py`) when the writer lock is free at that moment.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from layerfs.digest import Digest
from layerfs.errors import NotFound
from layerfs.store import gc, images
from layerfs.store.blobs import BlobStore
from layerfs.store.durable import DELETING, fsync_dir, remove_tree
from layerfs.store.image import StoreImage
from layerfs.store.ingest import Ingest
from layerfs.store.lock import FileLock, is_free
from layerfs.store.partial import PARTIAL
from layerfs.store.paths import StorePaths, default_root
from layerfs.store.records import ImageRecord, LayerRecord, RemoveResult
from layerfs.store.schema import connect
from layerfs.union.whiteouts import WhiteoutFormat

if TYPE_CHECKING:
    from layerfs.store.snapshots import Snapshotter


class Store:
    """A local store rooted at `paths.root`. Not thread-safe: one object per thread."""

    def __init__(self, paths: StorePaths, db: sqlite3.Connection) -> None:
        self.paths = paths
        self.db = db
        self.blobs = BlobStore(paths)
        self.lock = FileLock(paths.lock_file)

    @classmethod
    def open(cls, root: str | None = None, *, recover: bool = True) -> Store:
        """Open (creating if needed) the store at `root`; recover dead writers' leftovers."""
        paths = StorePaths(os.path.abspath(root) if root else default_root())
        paths.ensure()
        store = cls(paths, connect(paths.meta_db))
        if recover and store.lock.acquire(blocking=False):
            try:
                store.recover()
            finally:
                store.lock.release()
        return store

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """`BEGIN IMMEDIATE` ... `COMMIT` (ROLLBACK on error) on the store's connection."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def ingest(self) -> Ingest:
        """A new lease for adding content; use as `with store.ingest() as ing:`."""
        return Ingest(self)

    @property
    def snapshots(self) -> Snapshotter:
        """containerd's snapshot API over this store."""
        from layerfs.store.snapshots import Snapshotter

        return Snapshotter(self)

    @property
    def whiteout_format(self) -> WhiteoutFormat:
        """The on-disk form layers of this store are written in (fixed at creation)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'whiteouts'").fetchone()
        if row is not None:
            return WhiteoutFormat(row[0])
        fmt = WhiteoutFormat.default()
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('whiteouts', ?)", (fmt.value,)
            )
        return fmt

    # ------------------------------------------------------------------ layers

    def layer(self, chain_id: Digest) -> LayerRecord:
        """The committed layer `chain_id`; NotFound otherwise."""
        q = "SELECT * FROM layers WHERE chain_id = ?"
        row = self.db.execute(q, (str(chain_id),)).fetchone()
        if row is None:
            raise NotFound(f"layer {chain_id} is not in the store")
        return LayerRecord.from_row(row)

    def has_layer(self, chain_id: Digest) -> bool:
        q = "SELECT 1 FROM layers WHERE chain_id = ?"
        return self.db.execute(q, (str(chain_id),)).fetchone() is not None

    def layers(self) -> list[LayerRecord]:
        """Every committed layer, ordered by creation time."""
        rows = self.db.execute("SELECT * FROM layers ORDER BY created, chain_id").fetchall()
        return [LayerRecord.from_row(r) for r in rows]

    def lowerdirs(self, chain_id: Digest | None) -> list[str]:
        """The diff dirs of the stack ending at `chain_id`, top first (lowerdir order)."""
        out: list[str] = []
        current = chain_id
        while current is not None:
            rec = self.layer(current)
            out.append(self.paths.layer_diff(rec.chain_id))
            current = rec.parent
        return out

    # ------------------------------------------------------------------ images

    def image(self, ref: str) -> StoreImage:
        """The image named `ref` (name, id or id prefix) with the `Image` interface."""
        return StoreImage(self, images.resolve(self, ref))

    def images(self) -> list[ImageRecord]:
        """Every image, newest first."""
        return images.list_images(self)

    def tag(self, ref: str, new_name: str) -> ImageRecord:
        return images.tag(self, ref, new_name)

    def remove_images(self, refs: Sequence[str], *, force: bool = False) -> RemoveResult:
        return images.remove(self, refs, force=force)

    # ------------------------------------------------------------------ recovery

    def recover(self) -> list[str]:
        """Roll back dead ingests and remove `.deleting-*` leftovers. Needs the lock.

        Returns what was removed (paths and lease ids), for fsck's report.
        """
        removed: list[str] = []
        live: set[str] = set()
        ingest = self.paths.ingest
        for name in sorted(os.listdir(ingest)):
            path = os.path.join(ingest, name)
            lease = name[: -len(".lock")] if name.endswith(".lock") else name
            if lease in live or name == PARTIAL:  # partial downloads outlive their pull
                continue
            if not is_free(os.path.join(ingest, lease + ".lock")):
                live.add(lease)
                continue
            self.rollback_lease(lease)
            remove_tree(path)
            removed.append(path)
        rows = self.db.execute("SELECT id FROM leases").fetchall()
        for (lease,) in rows:
            if lease not in live and is_free(os.path.join(ingest, lease + ".lock")):
                self.rollback_lease(lease)
                removed.append(f"lease {lease}")
        for parent in (self.paths.layers, self.paths.containers, ingest):
            for name in os.listdir(parent):
                if name.startswith((DELETING, ".tmp-")):
                    remove_tree(os.path.join(parent, name))
                    removed.append(os.path.join(parent, name))
        for (key,) in self.db.execute(
            "SELECT key FROM snapshots WHERE kind != 'committed'"
        ).fetchall():
            if not os.path.isdir(self.paths.snapshot(key)):  # removal cut short
                with self.transaction() as db:
                    db.execute("DELETE FROM snapshots WHERE key = ?", (key,))
                removed.append(f"snapshot {key}")
        if gc.interrupted(self):
            result = gc.collect(self)
            removed += [f"layer {c}" for c in result.layers] + [f"blob {b}" for b in result.blobs]
        if removed:
            fsync_dir(ingest)
        return removed

    def rollback_lease(self, lease: str) -> None:
        """Remove what lease `lease` published that nothing else references; drop it.

        Needs the writer lock. Idempotent and restartable: each resource row goes only
        after what it names is removed, the lease row last, so a crash half-way leaves
        the rest for the next recovery.
        """
        rows = self.db.execute(
            "SELECT kind, ref FROM lease_resources WHERE lease = ?", (lease,)
        ).fetchall()
        pending = [(r["kind"], Digest.parse(r["ref"])) for r in rows]
        progress = True
        while pending and progress:  # children first: a child row references its parent
            progress = False
            for kind, ref in list(pending):
                if kind == "layer" and gc.unreferenced_layer(self, ref, lease):
                    self.delete_layer(ref)
                elif kind == "blob" and gc.unreferenced_blob(self, ref, lease):
                    remove_tree(self.paths.blob(ref))
                elif kind == "layer":
                    continue  # still referenced (maybe by a child of this lease): later
                self._drop_resource(lease, kind, ref)
                pending.remove((kind, ref))
                progress = True
        with self.transaction() as db:
            db.execute("DELETE FROM leases WHERE id = ?", (lease,))

    def _drop_resource(self, lease: str, kind: str, ref: Digest) -> None:
        self.db.execute(
            "DELETE FROM lease_resources WHERE lease = ? AND kind = ? AND ref = ?",
            (lease, kind, str(ref)),
        )

    def delete_layer(self, chain_id: Digest) -> None:
        """Delete a layer's row, then its directory. Needs the lock; no reference check."""
        with self.transaction() as db:
            db.execute("DELETE FROM layers WHERE chain_id = ?", (str(chain_id),))
        remove_tree(self.paths.layer(chain_id))
