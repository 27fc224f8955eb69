"""Fixtures for the transport tests: a fresh store holding a small two-layer image."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from layerfs.store.put import add_image
from layerfs.store.store import Store

from .samples import sample_image


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    s = Store.open(str(tmp_path / "store"))
    try:
        add_image(s, sample_image(), ["sample:1"])
        yield s
    finally:
        s.close()
