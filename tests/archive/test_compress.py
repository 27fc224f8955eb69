"""Compression: detection, round trips, determinism across thread counts, bomb guard."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import subprocess

import pytest
import zstandard

from layerfs.archive.compress import compress_stream, decompressed, detect
from layerfs.errors import InvalidInput, InvalidLayer

DATA = os.urandom(1 << 20) * 3 + bytes(3 << 20) + b"tail"


def _read_all(stream) -> bytes:
    with stream:
        return stream.read()


def test_detect():
    assert detect(gzip.compress(b"x")) == "gzip"
    assert detect(zstandard.ZstdCompressor().compress(b"x")) == "zstd"
    assert detect(bz2.compress(b"x")) == "bzip2"
    assert detect(lzma.compress(b"x")) == "xz"
    assert detect(b"ustar stuff") == "none"
    assert detect(b"") == "none"


@pytest.mark.parametrize("algo", ["gzip", "zstd"])
def test_round_trip_and_digest(algo):
    out = io.BytesIO()
    result = compress_stream(io.BytesIO(DATA), out, algo)
    blob = out.getvalue()
    assert result.size == len(blob)
    assert result.digest.hex == __import__("hashlib").sha256(blob).hexdigest()
    assert detect(blob[:8]) == algo
    assert _read_all(decompressed(io.BytesIO(blob))) == DATA


@pytest.mark.parametrize("algo", ["gzip", "zstd"])
def test_thread_count_never_changes_the_bytes(algo):
    blobs = set()
    for threads in (1, 2, 4):
        out = io.BytesIO()
        compress_stream(io.BytesIO(DATA), out, algo, threads=threads)
        blobs.add(out.getvalue())
    assert len(blobs) == 1


def test_gzip_is_standard():
    out = io.BytesIO()
    compress_stream(io.BytesIO(DATA), out, "gzip", level=3)
    assert gzip.decompress(out.getvalue()) == DATA
    if shutil.which("gzip"):
        got = subprocess.run(["gzip", "-dc"], input=out.getvalue(), capture_output=True,
                             check=True).stdout
        assert got == DATA


def test_foreign_compressors_are_read():
    for blob in (gzip.compress(DATA), gzip.compress(b"a") + gzip.compress(b"b"),
                 zstandard.ZstdCompressor().compress(b"a") +
                 zstandard.ZstdCompressor().compress(b"b"),
                 bz2.compress(b"ab"), lzma.compress(b"ab")):
        got = _read_all(decompressed(io.BytesIO(blob)))
        assert got in (DATA, b"ab")


def test_plain_stream_passes_through():
    assert _read_all(decompressed(io.BytesIO(b"plain tar bytes"))) == b"plain tar bytes"
    assert _read_all(decompressed(io.BytesIO(b""))) == b""


def test_bomb_guard():
    bomb = io.BytesIO()
    compress_stream(io.BytesIO(bytes(64 << 20)), bomb, "gzip")
    assert bomb.tell() < 1 << 20
    reader = decompressed(io.BytesIO(bomb.getvalue()), max_size=8 << 20)
    with pytest.raises(InvalidLayer, match="limit"), reader:
        while reader.read(1 << 20):
            pass


@pytest.mark.parametrize("algo", ["gzip", "zstd"])
def test_corrupt_and_truncated_streams(algo):
    out = io.BytesIO()
    compress_stream(io.BytesIO(DATA), out, algo)
    blob = out.getvalue()
    corrupt = blob[:100] + bytes(200) + blob[300:]
    for bad in (corrupt, blob[: len(blob) // 2]):
        with pytest.raises(InvalidInput):
            _read_all(decompressed(io.BytesIO(bad)))


def test_closing_closes_the_source():
    src = io.BytesIO(gzip.compress(b"x"))
    decompressed(src).close()
    assert src.closed


def test_unknown_algorithm():
    with pytest.raises(InvalidInput):
        compress_stream(io.BytesIO(b""), io.BytesIO(), "lz4")


@pytest.mark.skipif(shutil.which("zstd") is None, reason="the zstd CLI is not installed")
def test_zstd_cli_interop():
    out = io.BytesIO()
    compress_stream(io.BytesIO(DATA), out, "zstd", threads=2)
    got = subprocess.run(["zstd", "-dc"], input=out.getvalue(), capture_output=True,
                         check=True).stdout
    assert got == DATA
    theirs = subprocess.run(["zstd", "-c", "-T2", "--no-check"], input=DATA,
                            capture_output=True, check=True).stdout
    assert _read_all(decompressed(io.BytesIO(theirs))) == DATA
    with pytest.raises(InvalidInput, match="truncated"):
        _read_all(decompressed(io.BytesIO(theirs[:-1])))
