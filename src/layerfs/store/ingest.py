"""Ingests: leases (containerd's word) that protect work in progress.

An ingest owns a private directory `ingest/<id>/` (temp blobs and unpacked layers) held by
a flock on `ingest/<id>.lock`, and a `leases` row. Before anything is published under
`blobs/` or `layers/`, the ingest records it in `lease_resources`; the resources of a lease
count as references for gc. When the work is committed (an image row written), the
ingest is closed: its rows and directory go away. If the owner dies (kill -9), its lock
is free: recovery (`Store.recover`) removes what the dead lease published that nothing
else references, then the lease and its directory. So after a crash nothing is half
visible: orphans live only under `ingest/` until the next writer or `fsck --repair`.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
from typing import TYPE_CHECKING

from layerfs.digest import Digest
from layerfs.store.durable import delete_in_place, fsync_dir, publish
from layerfs.store.lock import FileLock

if TYPE_CHECKING:
    from layerfs.store.store import Store


class Ingest:
    """A lease plus its private directory. Use as a context manager (closes on exit).

    On an exception inside the `with` block the ingest is rolled back at once (what it
    published and nothing else references is removed); on success it is simply closed,
    leaving published content to whatever rows now reference it.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.id = f"{int(time.time())}-{os.getpid()}-{secrets.token_hex(4)}"
        self.dir = os.path.join(store.paths.ingest, self.id)
        self._owner = FileLock(self.dir + ".lock")
        self._counter = itertools.count()
        self._open = False

    def open(self) -> Ingest:
        """Take the owner lock, create the dir and the lease row.

        Done under the writer lock so that recovery (also under it) never sees an owner
        lock file that exists but is not yet held.
        """
        with self.store.lock:
            self._owner.acquire()
            os.mkdir(self.dir, 0o700)
            with self.store.transaction() as db:
                db.execute("INSERT INTO leases(id, created) VALUES (?, ?)", (self.id, time.time()))
        self._open = True
        return self

    def temp_path(self, prefix: str) -> str:
        """A fresh name inside the ingest dir (nothing is created)."""
        return os.path.join(self.dir, f"{prefix}-{next(self._counter)}")

    def temp_dir(self, prefix: str) -> str:
        """A fresh, empty directory inside the ingest dir."""
        path = self.temp_path(prefix)
        os.mkdir(path, 0o755)
        return path

    # ------------------------------------------------------------------ resources

    def use(self, kind: str, ref: Digest) -> None:
        """Record that this ingest uses (or will publish) blob/layer `ref`. Needs the lock."""
        self.store.db.execute(
            "INSERT OR IGNORE INTO lease_resources(lease, kind, ref) VALUES (?, ?, ?)",
            (self.id, kind, str(ref)),
        )

    def commit_blob(self, tmp_path: str, digest: Digest) -> None:
        """Publish a verified, fsynced temp file as blob `digest` (idempotent)."""
        with self.store.lock:
            self.use("blob", digest)
            final = self.store.paths.blob(digest)
            if os.path.isfile(final):
                os.unlink(tmp_path)
            else:
                publish(tmp_path, final)

    def use_blob(self, digest: Digest) -> bool:
        """Protect an existing blob from gc for the life of this ingest; False if absent."""
        with self.store.lock:
            if not self.store.blobs.exists(digest):
                return False
            self.use("blob", digest)
            return True

    # ------------------------------------------------------------------ life cycle

    def close(self) -> None:
        """Drop the lease and the private directory (what was published stays)."""
        if not self._open:
            return
        self._open = False
        with self.store.transaction() as db:
            db.execute("DELETE FROM leases WHERE id = ?", (self.id,))
        # under its own name while the owner lock is held: recovery leaves it alone
        delete_in_place(self.dir)
        fsync_dir(self.store.paths.ingest)
        os.unlink(self._owner.path)
        self._owner.release()

    def abort(self) -> None:
        """Roll back: remove what only this lease references, then close."""
        if not self._open:
            return
        with self.store.lock:
            self.store.rollback_lease(self.id)
        self.close()

    def __enter__(self) -> Ingest:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
