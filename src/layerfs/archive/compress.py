"""Layer compression: detection by magic, streaming decompression, fast compression.

gzip goes through python-isal (ISA-L; `igzip_threaded` compresses blocks in parallel,
like pigz, and decompresses in a background thread); zstd through `zstandard` with
worker threads. Python's zlib is never on the hot path. bzip2 and xz are read (docker
accepts them for imports) but never written.
"""

from __future__ import annotations

import bz2
import io
import lzma
import os
from dataclasses import dataclass
from typing import BinaryIO

import zstandard
from isal import igzip_threaded

from layerfs.archive._io import (
    BUFSIZE,
    HashingWriter,
    LimitedReader,
    RawReader,
    ReplayReader,
    read_exactly_head,
)
from layerfs.archive._zstdframes import FrameCheckReader
from layerfs.digest import Digest
from layerfs.errors import InvalidInput

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
HEAD_SIZE = 8

ALGORITHMS = ("gzip", "zstd")
DEFAULT_LEVEL = {"gzip": 2, "zstd": 3}  # isal's recommended trade-off; zstd's default


@dataclass(frozen=True)
class CompressResult:
    """The compressed blob written: its digest and size in bytes."""

    digest: Digest
    size: int


def detect(head: bytes) -> str:
    """"gzip", "zstd", "bzip2", "xz" or "none" from the first bytes of a stream.

    Needs at least 6 bytes to tell xz; 4 are enough for the others.
    """
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(BZIP2_MAGIC) and len(head) >= 4 and head[3:4] in b"123456789":
        return "bzip2"
    return "none"


def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except OSError:
        return os.cpu_count() or 1


def decompressed(stream: BinaryIO, *, max_size: int | None = None) -> BinaryIO:
    """A streaming reader of `stream`'s content, decompressed if it is compressed.

    The format is detected from the magic bytes (see `detect`); a plain stream is passed
    through. `max_size` bounds the decompressed bytes (a bomb guard): reading past it
    raises InvalidLayer. Closing the returned reader closes `stream`. Corrupt compressed
    data raises InvalidInput (or the decompressor's error, wrapped) while reading.
    """
    head = read_exactly_head(stream, HEAD_SIZE)
    algo = detect(head)
    replay = ReplayReader(head, stream)
    raw: io.RawIOBase | BinaryIO
    if algo == "gzip":
        raw = _Guarded(igzip_threaded.open(replay, "rb", threads=1, block_size=BUFSIZE), replay)
    elif algo == "zstd":
        dctx = zstandard.ZstdDecompressor(max_window_size=1 << 31)
        checked = FrameCheckReader(replay)
        raw = _Guarded(dctx.stream_reader(checked, read_size=BUFSIZE, read_across_frames=True),
                       checked)
    elif algo == "bzip2":
        raw = _Guarded(bz2.BZ2File(replay, "rb"), replay)
    elif algo == "xz":
        raw = _Guarded(lzma.LZMAFile(replay, "rb"), replay)  # noqa: SIM115 (closed by _Guarded)
    else:
        raw = replay
    if max_size is not None:
        raw = LimitedReader(raw, max_size, "decompressed layer")  # type: ignore[arg-type]
    return io.BufferedReader(raw, BUFSIZE)  # type: ignore[arg-type]


class _Guarded(RawReader):
    """A decompressor as a raw stream whose errors become InvalidInput; closes both ends."""

    def __init__(self, reader: BinaryIO, source: io.RawIOBase) -> None:
        self._reader = reader
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._reader.read(len(b))
        except (OSError, EOFError, ValueError, zstandard.ZstdError, lzma.LZMAError) as e:
            if isinstance(e, InvalidInput):
                raise
            raise InvalidInput(f"corrupt compressed stream: {e}") from None
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self._reader.close()
            finally:
                self._source.close()
        super().close()


def compress_stream(
    src: BinaryIO,
    dst: BinaryIO,
    algo: str = "gzip",
    level: int | None = None,
    *,
    threads: int | None = None,
) -> CompressResult:
    """Compress all of `src` into `dst`; returns the digest and size of what was written.

    Output is deterministic for a given (algo, level): the thread count changes the
    speed, never the bytes (isal compresses fixed 1 MiB blocks primed with the previous
    block's window; zstd's multi-threaded mode is deterministic for a fixed level).
    Neither stream is closed; `dst` is flushed.
    """
    if algo not in ALGORITHMS:
        raise InvalidInput(f"unknown compression {algo!r} (expected one of {ALGORITHMS})")
    level = DEFAULT_LEVEL[algo] if level is None else level
    threads = _threads() if threads is None else max(1, threads)
    out = HashingWriter(dst)
    if algo == "gzip":
        with igzip_threaded.open(out, "wb", compresslevel=level, threads=threads,
                                 block_size=BUFSIZE) as gz:
            _copy(src, gz)  # type: ignore[arg-type]
    else:
        cctx = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
        cctx.copy_stream(src, out, read_size=BUFSIZE, write_size=BUFSIZE)
    out.flush()
    return CompressResult(out.digest(), out.size)


def _copy(src: BinaryIO, dst: BinaryIO) -> None:
    read, write = src.read, dst.write
    while chunk := read(BUFSIZE):
        write(chunk)
