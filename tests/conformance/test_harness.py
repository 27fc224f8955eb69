"""The suite checks itself: a difference planted in one of two kernel mounts must be found,
and the failure message must show the operations and the first differing entry."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator

import pytest

from .frontends import REFERENCE, unavailable
from .harness import Differential
from .layers import Stack, file

STACK = Stack(((file("a", "lower a"), file("d/b", "lower b")),))

pytestmark = pytest.mark.root


@pytest.fixture
def pair(request: pytest.FixtureRequest) -> Iterator[Differential]:
    reason = unavailable(REFERENCE)
    if reason:
        pytest.skip(reason)
    tmp_path = request.getfixturevalue("tmp_path")
    d = Differential(STACK, (REFERENCE, "kernel#2"), os.fspath(tmp_path))
    try:
        yield d
    finally:
        d.close()


def test_equal_unions_pass(pair: Differential) -> None:
    pair.do("append", "/a", b"+")
    pair.do("unlink", "/d/b")
    pair.check()


def test_planted_upper_difference_is_reported(pair: Differential) -> None:
    pair.do("unlink", "/d/b")
    with open(os.path.join(pair.frontends["kernel#2"].dirs.upperdir, "planted"), "wb") as f:
        f.write(b"x")
    with pytest.raises(AssertionError) as info:
        pair.check()
    text = str(info.value)
    assert "unlink('/d/b')" in text
    assert "upperdir /planted: only in kernel#2: file" in text
    assert "merged /planted: only in kernel#2: file" in text


def test_planted_errno_difference_is_reported(pair: Differential,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    other = pair.frontends["kernel#2"]

    def broken_rmdir(path: str) -> None:
        raise OSError(errno.EBUSY, "planted")

    monkeypatch.setattr(other, "rmdir", broken_rmdir)
    pair.do("write_file", "/new", b"n", 0o644)
    with pytest.raises(AssertionError) as info:
        pair.do("rmdir", "/d")
    text = str(info.value)
    assert "operation 2 has different outcomes" in text
    assert re.search(r"2\. rmdir\('/d'\)\s+=>\s+kernel: ENOTEMPTY\s+kernel#2: EBUSY\s+<-- differs",
                     text), text


def test_planted_metadata_difference_is_reported(pair: Differential) -> None:
    pair.do("append", "/a", b"+")
    os.chmod(os.path.join(pair.frontends["kernel#2"].dirs.upperdir, "a"), 0o600)
    with pytest.raises(AssertionError) as info:
        pair.check()
    assert "merged /a: mode: kernel 0o644 != kernel#2 0o600" in str(info.value)
