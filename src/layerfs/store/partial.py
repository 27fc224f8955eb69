"""Partial blob downloads that survive the process: `ingest/partial/<hex>.part`.

A download from a registry appends to the partial file of the blob's digest while it
reads, so that a pull killed mid-blob (kill -9, lost network) continues on the next run
with a Range request for the missing bytes. A partial belongs to no lease: recovery of
dead ingests leaves `ingest/partial/` alone. It is only ever used for its own digest; the
kept prefix is re-hashed on resume (its length is the file's size) and the whole blob is
verified at the end: a mismatch removes the partial. When the blob lands the partial is
moved into the ingest and published; `prune` (gc, `fsck --repair`) removes partials
whose blob is already stored and those untouched for `MAX_AGE` seconds.

One writer per partial: a flock on the open file. A second process pulling the same
blob at the same time does not get it (`claim` returns None) and downloads as usual.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from layerfs.digest import Digest, Hasher
from layerfs.errors import DigestMismatch
from layerfs.store.blobs import CHUNK
from layerfs.store.lock import is_free

if TYPE_CHECKING:
    from layerfs.store.ingest import Ingest
    from layerfs.store.store import Store

PARTIAL = "partial"
"""The name of the partials' dir under `ingest/` (recovery and fsck skip it)."""
MAX_AGE = 7 * 86400
SUFFIX = ".part"

RangedOpener = Callable[[int], BinaryIO]
"""A stream of a blob's bytes from the given offset on (unverified; the caller closes)."""


def partial_dir(store: Store) -> str:
    return os.path.join(store.paths.ingest, PARTIAL)


class Partial:
    """The claimed partial file of one blob; `close` releases it (the file stays)."""

    def __init__(self, path: str, fd: int, digest: Digest) -> None:
        self.path = path
        self.digest = digest
        self.resumed = 0  # bytes kept from an earlier run at the last `fetch`
        self._fd = fd

    @classmethod
    def claim(cls, store: Store, digest: Digest) -> Partial | None:
        """Open (or create) the partial of `digest` and lock it; None if another holds it."""
        path = os.path.join(partial_dir(store), digest.hex + SUFFIX)
        for _ in range(10):  # the dir goes when its last partial goes (see `close`)
            os.makedirs(partial_dir(store), 0o700, exist_ok=True)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                break
            except FileNotFoundError:
                continue
        else:
            raise OSError(f"{path}: its directory keeps disappearing")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return cls(path, fd, digest)

    def prefix(self) -> Hasher:
        """Re-hash the bytes kept so far (its `size` is where the download resumes)."""
        h = Hasher()
        os.lseek(self._fd, 0, os.SEEK_SET)
        while chunk := os.read(self._fd, CHUNK):
            h.update(chunk)
        return h

    def fetch(self, opener: RangedOpener, size: int | None) -> int:
        """Complete the blob from `opener` (resuming after the kept prefix), verify it.

        Returns the blob's size. Bytes reach the file as they arrive (an interrupted
        fetch keeps them). DigestMismatch (size or digest) removes the partial, and is
        raised as soon as more bytes than `size` arrive.
        """
        h = self.prefix()
        if size is not None and h.size > size:
            h = self._restart()
        self.resumed = h.size
        with opener(h.size) as stream:
            read = getattr(stream, "read1", stream.read)
            while chunk := read(CHUNK):
                h.update(chunk)
                if size is not None and h.size > size:  # a registry that never stops
                    self._refuse(f"more than the {size} bytes announced")
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self._fd, view):]
        os.fsync(self._fd)
        got = h.digest()
        if size is not None and h.size != size:
            self._refuse(f"{h.size} bytes, expected {size}")
        if got != self.digest:
            self._refuse(f"expected {self.digest}, got {got}")
        return h.size

    def _refuse(self, why: str) -> None:
        os.ftruncate(self._fd, 0)  # `close` removes the empty partial
        raise DigestMismatch(f"blob {self.digest}: {why}")

    def _restart(self) -> Hasher:
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        return Hasher()

    def publish(self, ingest: Ingest) -> None:
        """Move the complete, verified file into `ingest` and publish it as the blob."""
        tmp = ingest.temp_path("blob")
        os.rename(self.path, tmp)
        ingest.commit_blob(tmp, self.digest)

    def close(self) -> None:
        """Release the partial; an empty one (nothing was read) is removed, and the
        partials' dir with the last one (the store then looks as before the pull)."""
        try:
            if os.fstat(self._fd).st_size == 0 and os.path.exists(self.path):
                os.unlink(self.path)
        finally:
            os.close(self._fd)  # releases the flock
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(self.path))

    def __enter__(self) -> Partial:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def fetch_blob(ingest: Ingest, digest: Digest, size: int | None,
               opener: RangedOpener) -> bool:
    """Download blob `digest` through its partial and publish it; False when another
    process holds that partial (the caller then downloads without one)."""
    part = Partial.claim(ingest.store, digest)
    if part is None:
        return False
    with part:
        try:
            part.fetch(opener, size)
        except DigestMismatch:
            if not part.resumed:
                raise
            part.fetch(opener, size)  # the kept prefix was bad: once more, from the start
        part.publish(ingest)
    return True


def prune(store: Store, max_age: float = MAX_AGE) -> list[str]:
    """Remove the `stale` partials; the paths removed."""
    removed = []
    for path in stale(store, max_age):
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def stale(store: Store, max_age: float = MAX_AGE) -> list[str]:
    """Partials nobody writes whose blob landed or that are older than `max_age` seconds."""
    try:
        names = sorted(os.listdir(partial_dir(store)))
    except FileNotFoundError:
        return []
    now = time.time()
    out = []
    for name in names:
        path = os.path.join(partial_dir(store), name)
        try:
            digest = Digest(name.removesuffix(SUFFIX))
            old = now - os.lstat(path).st_mtime > max_age
        except (ValueError, FileNotFoundError):
            old, digest = True, None
        landed = digest is not None and store.blobs.exists(digest)
        if (old or landed or not name.endswith(SUFFIX)) and is_free(path):
            out.append(path)
    return out
