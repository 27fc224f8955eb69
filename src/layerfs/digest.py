"""Content digests (`sha256:<hex>`) as frozen values.

This module imports nothing of ours except errors; every room may use it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from layerfs.errors import DigestMismatch, InvalidInput

_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, order=True)
class Digest:
    """A sha256 digest. `str(d)` is the OCI form `sha256:<hex>`."""

    hex: str
    algorithm: str = "sha256"

    def __post_init__(self) -> None:
        if self.algorithm != "sha256":
            raise InvalidInput(f"unsupported digest algorithm {self.algorithm!r}")
        if not _HEX.fullmatch(self.hex):  # `$` alone would accept a trailing newline
            raise InvalidInput(f"malformed sha256 digest {self.hex!r}")

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse `sha256:<hex>` (or a bare 64-hex string); InvalidInput otherwise."""
        if not isinstance(text, str):
            raise InvalidInput(f"digest must be a string, not {type(text).__name__}")
        algo, sep, hexpart = text.partition(":")
        if not sep:
            algo, hexpart = "sha256", text
        return cls(hexpart, algo)

    @classmethod
    def of_bytes(cls, data: bytes) -> Digest:
        return cls(hashlib.sha256(data).hexdigest())

    @classmethod
    def of_chunks(cls, chunks: Iterable[bytes]) -> Digest:
        h = hashlib.sha256()
        for c in chunks:
            h.update(c)
        return cls(h.hexdigest())

    @property
    def short(self) -> str:
        """The 12-hex form docker prints as an ID."""
        return self.hex[:12]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def verify(self, data: bytes, what: str = "content") -> None:
        """Raise DigestMismatch unless `data` hashes to this digest."""
        got = Digest.of_bytes(data)
        if got != self:
            raise DigestMismatch(f"{what}: expected {self}, got {got}")


class Hasher:
    """Incremental sha256 that yields a Digest; for verifying while streaming."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.size = 0

    def update(self, data: bytes) -> None:
        self._h.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(self._h.hexdigest())
