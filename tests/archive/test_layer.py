"""BlobLayer / VerifyingReader: the Layer protocol over a blob, verified while streaming."""

from __future__ import annotations

import io

import pytest

from layerfs.archive.compress import compress_stream
from layerfs.archive.layer import BlobLayer
from layerfs.archive.verify import VerifyingReader
from layerfs.digest import Digest
from layerfs.errors import DigestMismatch
from layerfs.oci import mediatypes as mt
from layerfs.oci.descriptor import Descriptor
from layerfs.oci.image import Layer

from .tars import f, tar_bytes

TAR = tar_bytes([f("a", b"x" * 5000), f("b", b"y")])


def _layer(algo: str, blob_edit=lambda b: b, diff_id: Digest | None = None) -> BlobLayer:
    out = io.BytesIO()
    result = compress_stream(io.BytesIO(TAR), out, algo)
    blob = blob_edit(out.getvalue())
    desc = Descriptor(mt.layer_type(algo), result.digest, result.size)
    return BlobLayer(lambda: io.BytesIO(blob), desc, diff_id or Digest.of_bytes(TAR))


def _drain(stream) -> bytes:
    with stream:
        return stream.read()


@pytest.mark.parametrize("algo", ["gzip", "zstd"])
def test_blob_layer_streams_and_verifies(algo):
    layer = _layer(algo)
    assert isinstance(layer, Layer)
    assert layer.media_type() == mt.layer_type(algo)
    assert _drain(layer.uncompressed()) == TAR
    assert Digest.of_bytes(_drain(layer.compressed())) == layer.digest()


@pytest.mark.parametrize("algo", ["gzip", "zstd"])
def test_tampered_blob_is_refused(algo):
    def flip(b: bytes) -> bytes:
        return b[:-5] + bytes([b[-5] ^ 1]) + b[-4:]

    layer = _layer(algo, flip)
    with pytest.raises(DigestMismatch):
        _drain(layer.compressed())
    with pytest.raises((DigestMismatch, ValueError)):
        _drain(layer.uncompressed())


def test_wrong_diff_id_is_refused():
    layer = _layer("gzip", diff_id=Digest.of_bytes(b"other"))
    assert _drain(layer.compressed())  # the blob itself is fine
    with pytest.raises(DigestMismatch, match="diff_id"):
        _drain(layer.uncompressed())


def test_verifying_reader_sizes():
    data = b"abc"
    ok = VerifyingReader(io.BytesIO(data), Digest.of_bytes(data), "blob", size=3)
    assert ok.read() == data and ok.verified
    with pytest.raises(DigestMismatch, match="longer"):
        VerifyingReader(io.BytesIO(data + b"d"), Digest.of_bytes(data), "blob", size=3).read()
    with pytest.raises(DigestMismatch, match="2 bytes"):
        VerifyingReader(io.BytesIO(b"ab"), Digest.of_bytes(b"ab"), "blob", size=3).read()
