"""Small stream adapters shared by the archive modules: hashing, counting, limits, replay."""

from __future__ import annotations

import io
from typing import BinaryIO

from layerfs.digest import Digest, Hasher
from layerfs.errors import InvalidLayer

BUFSIZE = 1 << 20  # 1 MiB: every copy loop in this room uses it


class RawReader(io.RawIOBase):
    """A raw reader whose `readall` (what `read()` without a size uses) takes 1 MiB bites."""

    def readable(self) -> bool:
        return True

    def readall(self) -> bytes:
        parts = []
        buf = bytearray(BUFSIZE)
        while n := self.readinto(buf):
            parts.append(bytes(buf[:n]))
        return b"".join(parts)


class HashingReader(RawReader):
    """Reads `inner` and hashes every byte that passes; `digest()`/`size` at any time.

    Does not close `inner` unless `closefd`.
    """

    def __init__(self, inner: BinaryIO, *, closefd: bool = False) -> None:
        self._inner = inner
        self._hasher = Hasher()
        self._closefd = closefd

    @property
    def size(self) -> int:
        return self._hasher.size

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(b))
        n = len(data)
        b[:n] = data
        if n:
            self._hasher.update(data)
        return n

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        data = self._inner.read(size)
        if data:
            self._hasher.update(data)
        return data

    def drain(self) -> None:
        """Read (and hash) whatever is left of `inner`."""
        while self.read(BUFSIZE):
            pass

    def digest(self) -> Digest:
        return self._hasher.digest()

    def close(self) -> None:
        if self._closefd and not self.closed:
            self._inner.close()
        super().close()


class HashingWriter(io.RawIOBase):
    """Writes through to `inner` (never closed here) and hashes every byte."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._hasher = Hasher()

    @property
    def size(self) -> int:
        return self._hasher.size

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._hasher.update(b)  # type: ignore[arg-type]
        self._inner.write(b)
        return len(b)

    def flush(self) -> None:
        self._inner.flush()

    def digest(self) -> Digest:
        return self._hasher.digest()


class ReplayReader(RawReader):
    """Gives `head` first, then the rest of `inner` (a peeked stream put back together).

    Closing it closes `inner`.
    """

    def __init__(self, head: bytes, inner: BinaryIO) -> None:
        self._head = memoryview(head)
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._inner.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


class LimitedReader(RawReader):
    """Reads `inner` but raises InvalidLayer once more than `limit` bytes came out.

    `what` names the stream in the message. Closing it closes `inner`.
    """

    def __init__(self, inner: BinaryIO, limit: int, what: str) -> None:
        self._inner = inner
        self._left = limit
        self._limit = limit
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(min(len(b), self._left + 1))
        n = len(data)
        if n > self._left:
            raise InvalidLayer(f"{self._what}: larger than the limit of {self._limit} bytes")
        self._left -= n
        b[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


def read_exactly_head(stream: BinaryIO, n: int) -> bytes:
    """Up to `n` bytes from the start of `stream` (fewer only at end of stream)."""
    parts: list[bytes] = []
    got = 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)
