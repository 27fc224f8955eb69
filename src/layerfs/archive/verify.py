"""Streams that verify what they deliver: digest (and size) checked at end of stream.

Blobs come from strangers (registries, archives, a store someone may have edited); a
reader wrapped here raises `DigestMismatch` instead of reporting a clean end of stream
when the bytes were not the announced ones, so nothing downstream can commit them.
"""

from __future__ import annotations

from typing import BinaryIO

from layerfs.archive._io import RawReader
from layerfs.digest import Digest, Hasher
from layerfs.errors import DigestMismatch


class VerifyingReader(RawReader):
    """Reads `inner`, hashing; at its end raises DigestMismatch unless the bytes hash to
    `expected` (and number `size`, when given). Reading past `size` raises at once.

    `what` names the blob in messages. Closing it closes `inner`. A reader closed before
    its end verifies nothing (the caller did not consume the blob).
    """

    def __init__(self, inner: BinaryIO, expected: Digest, what: str, *,
                 size: int | None = None) -> None:
        self._inner = inner
        self._expected = expected
        self._what = what
        self._size = size
        self._hasher = Hasher()
        self.verified = False

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        readinto = getattr(self._inner, "readinto", None)
        if readinto is not None:  # straight into the caller's buffer: no copy
            n = readinto(b) or 0
            data: bytes | memoryview = memoryview(b)[:n]
        else:
            data = self._inner.read(len(b))
            n = len(data)
            b[:n] = data
        if n:
            self._hasher.update(data)  # type: ignore[arg-type]
            if self._size is not None and self._hasher.size > self._size:
                raise DigestMismatch(f"{self._what}: longer than its announced {self._size} "
                                     "bytes")
        elif len(b) and not self.verified:
            self._check()
        return n

    def _check(self) -> None:
        got = self._hasher.digest()
        if self._size is not None and self._hasher.size != self._size:
            raise DigestMismatch(f"{self._what}: {self._hasher.size} bytes, expected "
                                 f"{self._size}")
        if got != self._expected:
            raise DigestMismatch(f"{self._what}: expected {self._expected}, got {got}")
        self.verified = True

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()
