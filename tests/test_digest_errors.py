"""Small tests of the two leaves: `layerfs.digest` and `layerfs.errors`."""

from __future__ import annotations

import errno
import hashlib
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layerfs import errors
from layerfs.digest import Digest, Hasher
from layerfs.errors import (
    BlobNotFound,
    Conflict,
    DigestMismatch,
    InvalidInput,
    InvalidLayer,
    InvalidOption,
    LayerfsError,
    MountError,
    NotFound,
    PermissionDenied,
    Unsupported,
    oserror,
)

EMPTY_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# --------------------------------------------------------------------------- digest


def test_digest_of_known_bytes() -> None:
    d = Digest.of_bytes(b"")
    assert d.hex == EMPTY_HEX and d.algorithm == "sha256"
    assert str(d) == f"sha256:{EMPTY_HEX}"
    assert d.short == EMPTY_HEX[:12]


def test_parse_accepts_the_oci_form_and_bare_hex() -> None:
    assert Digest.parse(f"sha256:{EMPTY_HEX}") == Digest(EMPTY_HEX)
    assert Digest.parse(EMPTY_HEX) == Digest(EMPTY_HEX)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sha256:",
        f"sha512:{EMPTY_HEX}",
        f"sha256:{EMPTY_HEX.upper()}",
        f"sha256:{EMPTY_HEX[:-1]}",
        f"sha256:{EMPTY_HEX}0",
        f"sha256:{EMPTY_HEX[:-1]}g",
        f" sha256:{EMPTY_HEX}",
        f"sha256:{EMPTY_HEX}\n",
        "sha256:../../etc/passwd",
    ],
)
def test_parse_rejects_malformed_digests(text: str) -> None:
    with pytest.raises(InvalidInput):
        Digest.parse(text)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(InvalidInput, match="must be a string"):
        Digest.parse(b"sha256:00")  # type: ignore[arg-type]


def test_digest_is_a_frozen_ordered_value() -> None:
    a, b = Digest("0" * 64), Digest("f" * 64)
    assert a < b and sorted([b, a]) == [a, b]
    assert {a, Digest("0" * 64)} == {a}
    with pytest.raises(AttributeError):
        a.hex = "1" * 64  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(a)) == a


@given(st.binary(max_size=4096), st.integers(min_value=1, max_value=64))
def test_chunks_hasher_and_bytes_agree(data: bytes, step: int) -> None:
    chunks = [data[i : i + step] for i in range(0, len(data), step)]
    h = Hasher()
    for c in chunks:
        h.update(c)
    expected = Digest(hashlib.sha256(data).hexdigest())
    assert Digest.of_bytes(data) == Digest.of_chunks(chunks) == h.digest() == expected
    assert h.size == len(data)
    assert Digest.parse(str(expected)) == expected


def test_verify() -> None:
    d = Digest.of_bytes(b"layer")
    d.verify(b"layer")
    with pytest.raises(DigestMismatch, match=r"blob x: expected sha256:[0-9a-f]{64}, got sha256:"):
        d.verify(b"other", what="blob x")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (InvalidInput, ValueError),
        (InvalidOption, ValueError),
        (InvalidLayer, ValueError),
        (DigestMismatch, ValueError),
        (NotFound, KeyError),
        (BlobNotFound, KeyError),
        (PermissionDenied, PermissionError),
        (MountError, OSError),
    ],
)
def test_leaves_subclass_the_fitting_builtin(cls: type[Exception], builtin: type) -> None:
    assert issubclass(cls, LayerfsError) and issubclass(cls, builtin)
    with pytest.raises(builtin):
        raise cls("what went wrong")


def test_tree_shape() -> None:
    assert issubclass(InvalidOption, InvalidInput)
    assert issubclass(InvalidLayer, InvalidInput)
    assert issubclass(DigestMismatch, InvalidInput)
    assert issubclass(BlobNotFound, NotFound)
    for cls in (Conflict, Unsupported):
        assert issubclass(cls, LayerfsError)
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, LayerfsError), name


def test_not_found_message_is_not_quoted() -> None:
    assert str(NotFound("image busybox not found")) == "image busybox not found"
    assert str(BlobNotFound("blob sha256:00 not found")) == "blob sha256:00 not found"
    assert str(NotFound()) == ""
    assert str(KeyError("x")) == "'x'"  # what NotFound avoids


def test_oserror_builds_the_right_subclass() -> None:
    e = oserror(errno.ENOENT, "/a/b")
    assert isinstance(e, FileNotFoundError)
    assert e.errno == errno.ENOENT and e.filename == "/a/b"
    assert "No such file or directory" in str(e)
    assert isinstance(oserror(errno.EEXIST), FileExistsError)
    assert isinstance(oserror(errno.ENOTDIR), NotADirectoryError)
    assert isinstance(oserror(errno.EISDIR), IsADirectoryError)
    assert isinstance(oserror(errno.EPERM), PermissionError)
    e2 = oserror(errno.EXDEV)
    assert type(e2) is OSError and e2.errno == errno.EXDEV and e2.filename is None
    assert not isinstance(e2, LayerfsError)
