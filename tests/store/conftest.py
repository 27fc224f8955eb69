"""Fixtures for the store tests: a fresh store per test under tmp_path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from layerfs.store.store import Store


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    s = Store.open(str(tmp_path / "store"))
    try:
        yield s
    finally:
        s.close()
