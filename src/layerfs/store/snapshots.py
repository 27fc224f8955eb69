"""The snapshot API of containerd: prepare / view / commit / remove / usage / walk.

Committed snapshots are the store's layers, named by chain id (and optionally by a
`name` given to `commit`). An active snapshot (`prepare`) is `containers/<key>/` with
`upper/` and `work/`; a view (`view`) is read-only. Both return `Mount` values; nothing
here mounts anything. Rules as containerd's overlay snapshotter: an active snapshot
without parent is a read-write bind of its upper dir; a view of one layer is a read-only
bind of it; otherwise an overlay with `lowerdir` top first.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from layerfs.digest import Digest
from layerfs.errors import Conflict, InvalidInput, NotFound
from layerfs.mounts.mount import Mount
from layerfs.store import gc
from layerfs.store.commit import layer_from_upper
from layerfs.store.durable import fsync_dir, mounted_under, publish, remove_tree
from layerfs.store.paths import check_key
from layerfs.union.whiteouts import WhiteoutFormat

if TYPE_CHECKING:
    from layerfs.store.store import Store

ACTIVE, VIEW, COMMITTED = "active", "view", "committed"


@dataclass(frozen=True)
class SnapshotInfo:
    """One snapshot: `name` is the key (active/view), or the name / chain id (committed)."""

    name: str
    kind: str
    parent: Digest | None
    chain_id: Digest | None = None
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    created: float = 0.0


@dataclass(frozen=True)
class Usage:
    """Disk usage of a snapshot's own data: bytes (allocated blocks) and inodes."""

    size: int
    inodes: int


class Snapshotter:
    """containerd's snapshotter over one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------------ lookups

    def _resolve_parent(self, parent: str | Digest | None) -> Digest | None:
        if parent is None:
            return None
        text = str(parent)
        row = self.store.db.execute(
            "SELECT chain_id FROM snapshots WHERE key = ? AND kind = 'committed'", (text,)
        ).fetchone()
        chain = Digest.parse(row[0]) if row is not None else Digest.parse(text)
        if not self.store.has_layer(chain):
            raise NotFound(f"parent snapshot {text} does not exist")
        return chain

    def stat(self, key: str) -> SnapshotInfo:
        """The snapshot named `key` (a key, a committed name or a chain id)."""
        row = self.store.db.execute("SELECT * FROM snapshots WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return _info(row)
        try:
            layer = self.store.layer(Digest.parse(key))
        except (InvalidInput, NotFound):
            raise NotFound(f"snapshot {key} does not exist") from None
        return SnapshotInfo(
            str(layer.chain_id), COMMITTED, layer.parent, layer.chain_id, {}, layer.created
        )

    def walk(self) -> Iterator[SnapshotInfo]:
        """Every snapshot: each layer by chain id, then named, active and view ones."""
        for layer in self.store.layers():
            yield SnapshotInfo(
                str(layer.chain_id), COMMITTED, layer.parent, layer.chain_id, {}, layer.created
            )
        rows = self.store.db.execute("SELECT * FROM snapshots ORDER BY created, key").fetchall()
        for row in rows:
            yield _info(row)

    # ------------------------------------------------------------------ mounts

    def mounts(self, key: str) -> list[Mount]:
        """The mounts of an active snapshot or a view (recomputed, same as prepare's)."""
        info = self.stat(key)
        if info.kind == COMMITTED:
            raise InvalidInput(f"snapshot {key} is committed: use view() to mount it")
        lowers = self.store.lowerdirs(info.parent)
        base = self.store.paths.snapshot(key)
        extra = ("userxattr",) if self.store.whiteout_format is WhiteoutFormat.USERXATTR else ()
        if info.kind == ACTIVE:
            upper, work = os.path.join(base, "upper"), os.path.join(base, "work")
            if not lowers:
                return [Mount("bind", upper, ("rw", "rbind"))]
            opts = (*extra, f"lowerdir={':'.join(lowers)}", f"upperdir={upper}", f"workdir={work}")
            return [Mount("overlay", "overlay", opts)]
        if not lowers:
            return [Mount("bind", os.path.join(base, "fs"), ("ro", "rbind"))]
        if len(lowers) == 1:
            return [Mount("bind", lowers[0], ("ro", "rbind"))]
        return [Mount("overlay", "overlay", (*extra, f"lowerdir={':'.join(lowers)}"))]

    # ------------------------------------------------------------------ changes

    def prepare(
        self, key: str, parent: str | Digest | None = None, labels: Mapping[str, str] | None = None
    ) -> list[Mount]:
        """Create the active snapshot `key` on top of `parent`; its mounts.

        Conflict if `key` exists. The dir `containers/<key>/` (upper/, work/) is renamed
        into place before the row is committed (recovery removes a dir without a row).
        """
        return self._create(key, parent, labels, ACTIVE, ("upper", "work"))

    def view(
        self, key: str, parent: str | Digest | None = None, labels: Mapping[str, str] | None = None
    ) -> list[Mount]:
        """Create the read-only snapshot `key` of `parent`; its mounts."""
        return self._create(key, parent, labels, VIEW, ("fs",))

    def _create(
        self,
        key: str,
        parent: str | Digest | None,
        labels: Mapping[str, str] | None,
        kind: str,
        subdirs: tuple[str, ...],
    ) -> list[Mount]:
        check_key(key)
        with self.store.lock:
            chain = self._resolve_parent(parent)
            if self.store.db.execute("SELECT 1 FROM snapshots WHERE key = ?", (key,)).fetchone():
                raise Conflict(f"snapshot {key} already exists")
            final = self.store.paths.snapshot(key)
            tmp = os.path.join(self.store.paths.containers, f".tmp-{key}")
            remove_tree(tmp)
            os.mkdir(tmp, 0o711)
            for sub in subdirs:
                os.mkdir(os.path.join(tmp, sub), 0o755)
            fsync_dir(tmp)
            remove_tree(final)  # a dir without a row: leftover of a crash
            publish(tmp, final)
            with self.store.transaction() as db:
                db.execute(
                    "INSERT INTO snapshots(key, kind, parent, labels, created)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (key, kind, _opt(chain), json.dumps(dict(labels or {})), time.time()),
                )
        return self.mounts(key)

    def commit(self, name: str, key: str) -> SnapshotInfo:
        """Make the active snapshot `key` a committed layer named `name`; `key` goes away.

        The upper dir is re-tarred deterministically and unpacked as a layer (so the
        layer is in the store's normal form whatever wrote the upper dir).
        """
        check_key(name, "snapshot name")
        info = self.stat(key)
        if info.kind != ACTIVE:
            raise InvalidInput(f"snapshot {key} is not active")
        busy = mounted_under(self.store.paths.snapshot(key))
        if busy:
            raise Conflict(f"snapshot {key} is still mounted: {', '.join(busy)}")
        upper = os.path.join(self.store.paths.snapshot(key), "upper")
        with self.store.ingest() as ingest:
            new = layer_from_upper(self.store, ingest, upper, info.parent, compression=None)
            with self.store.lock:
                if self.store.db.execute(
                    "SELECT 1 FROM snapshots WHERE key = ?", (name,)
                ).fetchone():
                    raise Conflict(f"snapshot {name} already exists")
                with self.store.transaction() as db:
                    db.execute("DELETE FROM snapshots WHERE key = ?", (key,))
                    db.execute(
                        "INSERT INTO snapshots(key, kind, parent, chain_id, labels, created)"
                        " VALUES (?, 'committed', ?, ?, ?, ?)",
                        (
                            name,
                            _opt(info.parent),
                            str(new.record.chain_id),
                            json.dumps(dict(info.labels)),
                            time.time(),
                        ),
                    )
                remove_tree(self.store.paths.snapshot(key))
        return self.stat(name)

    def remove(self, key: str) -> None:
        """Remove an active snapshot or view (its dir), or a committed name.

        A committed layer goes away with its last reference (gc). NotFound if unknown;
        Conflict if something is still mounted inside the snapshot's dir (nothing is
        removed then). The dir goes first (renamed away atomically), then the row:
        recovery drops the row of an active snapshot whose dir is gone.
        """
        with self.store.lock:
            info = self.stat(key)
            if info.kind == COMMITTED and info.name == str(info.chain_id):
                raise InvalidInput(f"snapshot {key} is a layer: remove the images using it")
            if info.kind != COMMITTED:
                path = self.store.paths.snapshot(key)
                busy = mounted_under(path)
                if busy:
                    raise Conflict(f"snapshot {key} is still mounted: {', '.join(busy)}")
                remove_tree(path)
            with self.store.transaction() as db:
                db.execute("DELETE FROM snapshots WHERE key = ?", (key,))
            gc.collect(self.store)

    def usage(self, key: str) -> Usage:
        """Bytes on disk and inodes of the snapshot's own data (upper dir or layer)."""
        info = self.stat(key)
        if info.kind == COMMITTED:
            assert info.chain_id is not None
            return tree_usage(self.store.paths.layer_diff(info.chain_id))
        sub = "upper" if info.kind == ACTIVE else "fs"
        return tree_usage(os.path.join(self.store.paths.snapshot(key), sub))


def tree_usage(path: str) -> Usage:
    """du-style usage of a tree: allocated bytes and inodes, hard links counted once."""
    seen: set[tuple[int, int]] = set()
    size = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            continue
        ident = (st.st_dev, st.st_ino)
        if ident in seen:
            continue
        seen.add(ident)
        size += st.st_blocks * 512
        if os.path.isdir(current) and not os.path.islink(current):
            with os.scandir(current) as it:
                stack.extend(entry.path for entry in it)
    return Usage(size, len(seen))


def _opt(d: Digest | None) -> str | None:
    return None if d is None else str(d)


def _info(row: sqlite3.Row) -> SnapshotInfo:
    return SnapshotInfo(
        name=row["key"],
        kind=row["kind"],
        parent=None if row["parent"] is None else Digest.parse(row["parent"]),
        chain_id=None if row["chain_id"] is None else Digest.parse(row["chain_id"]),
        labels=json.loads(row["labels"]),
        created=row["created"],
    )
