"""Content-addressed blobs: `blobs/sha256/<hex>`, verified while written and when read.

Writing goes to a temp file of the caller's ingest dir (`write_temp`), hashed on the way
and fsynced; the store publishes it under its digest only after the digest matched
(see `Ingest.commit_blob`). Readers get a stream that raises `DigestMismatch` at EOF if
the bytes on disk no longer hash to their name.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import BinaryIO

from layerfs.archive.verify import VerifyingReader
from layerfs.digest import Digest, Hasher
from layerfs.errors import BlobNotFound, DigestMismatch
from layerfs.store.paths import StorePaths

CHUNK = 1 << 20


class BlobStore:
    """The blobs of one store (no locking here: publishing is the store's job)."""

    def __init__(self, paths: StorePaths) -> None:
        self.paths = paths

    def path(self, digest: Digest) -> str:
        return self.paths.blob(digest)

    def exists(self, digest: Digest) -> bool:
        return os.path.isfile(self.path(digest))

    def size(self, digest: Digest) -> int:
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            raise BlobNotFound(f"blob {digest} is not in the store") from None

    def open_blob(self, digest: Digest, *, verify: bool = True) -> BinaryIO:
        """A stream of the blob (caller closes). With `verify`, EOF checks the digest."""
        try:
            f = open(self.path(digest), "rb")  # noqa: SIM115 - returned to the caller
        except FileNotFoundError:
            raise BlobNotFound(f"blob {digest} is not in the store") from None
        if not verify:
            return f
        size = os.fstat(f.fileno()).st_size
        return io.BufferedReader(VerifyingReader(f, digest, f"blob {digest}", size=size), CHUNK)  # type: ignore[return-value]

    def read_bytes(self, digest: Digest) -> bytes:
        """The whole blob, verified (for small blobs: configs, manifests)."""
        try:
            with open(self.path(digest), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise BlobNotFound(f"blob {digest} is not in the store") from None
        digest.verify(data, f"blob {digest}")
        return data

    def digests(self) -> Iterator[Digest]:
        """Every blob file present (names that are not 64-hex are skipped)."""
        try:
            names = os.listdir(self.paths.blobs)
        except FileNotFoundError:
            return
        for name in sorted(names):
            try:
                yield Digest(name)
            except ValueError:
                continue

    def verify(self, digest: Digest) -> bool:
        """True if the blob exists and hashes to its name."""
        try:
            with self.open_blob(digest) as f:
                while f.read(CHUNK):
                    pass
        except (BlobNotFound, DigestMismatch):
            return False
        return True


def write_temp(
    stream: BinaryIO, tmp_path: str, expected: Digest | None = None
) -> tuple[Digest, int]:
    """Copy `stream` to the new file `tmp_path`, hashing it, then fsync.

    With `expected`, a different digest raises `DigestMismatch` (the temp file is
    removed). The caller keeps ownership of `stream`. Returns (digest, size).
    """
    h = Hasher()
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb", closefd=False) as out:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                h.update(chunk)
                out.write(chunk)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp_path)
        raise
    os.close(fd)
    got = h.digest()
    if expected is not None and got != expected:
        os.unlink(tmp_path)
        raise DigestMismatch(f"blob {expected}: content hashes to {got} ({h.size} bytes)")
    return got, h.size
