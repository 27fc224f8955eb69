"""Fixtures for the transport tests: a fresh store holding a small two-layer image."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator

import pytest

from layerfs.store.put import add_image
from layerfs.store.store import Store
from store.helpers import MemoryImage


def tar_of(files: dict[str, bytes]) -> bytes:
    """A plain tar of regular files (mode 0644, mtime 0)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sample_image() -> MemoryImage:
    return MemoryImage(
        [tar_of({"etc/a": b"one\n"}), tar_of({"etc/b": b"two\n" * 1000})],
        created_by=["RUN one", "RUN two"],
    )


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    s = Store.open(str(tmp_path / "store"))
    try:
        add_image(s, sample_image(), ["sample:1"])
        yield s
    finally:
        s.close()
