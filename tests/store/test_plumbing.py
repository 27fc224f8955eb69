"""Store plumbing: the default root, key names, locks, blob verification on read."""

from __future__ import annotations

import io
import os

import pytest

from layerfs.digest import Digest
from layerfs.errors import BlobNotFound, DigestMismatch, InvalidInput
from layerfs.store.lock import FileLock, is_free
from layerfs.store.paths import check_key, default_root
from layerfs.store.put import store_blob
from layerfs.store.store import Store


def test_default_root(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LAYERFS_ROOT", str(tmp_path / "r"))
    assert default_root() == str(tmp_path / "r")
    with Store.open() as s:
        assert s.paths.root == str(tmp_path / "r") and os.path.isdir(s.paths.blobs)
    monkeypatch.delenv("LAYERFS_ROOT")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_root() == str(tmp_path / "home/.local/share/layerfs")


def test_keys() -> None:
    assert check_key("c1.x_y-z") == "c1.x_y-z"
    for bad in ("", ".hidden", "a/b", "..", "x" * 129, "a b"):
        with pytest.raises(InvalidInput):
            check_key(bad)


def test_lock_is_exclusive_and_reentrant(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "lock")
    a, b = FileLock(path), FileLock(path)
    assert is_free(path)
    with a:
        with a:  # re-entrant within one object
            assert a.held and not is_free(path)
        assert not b.acquire(blocking=False)
    assert not a.held and b.acquire(blocking=False)
    b.release()
    with pytest.raises(RuntimeError):
        b.release()


def test_blobs_verified_when_written_and_read(store: Store) -> None:
    data = b"some config"
    with store.ingest() as ing:
        digest, size = store_blob(ing, io.BytesIO(data), Digest.of_bytes(data))
        with pytest.raises(DigestMismatch):
            store_blob(ing, io.BytesIO(b"other"), Digest.of_bytes(b"expected"))
    assert size == len(data) and store.blobs.read_bytes(digest) == data
    with open(store.paths.blob(digest), "r+b") as fh:
        fh.write(b"S")
    with pytest.raises(DigestMismatch), store.blobs.open_blob(digest) as f:
        f.read()
    with store.blobs.open_blob(digest, verify=False) as f:
        assert f.read() == b"Some config"
    with pytest.raises(BlobNotFound):
        store.blobs.open_blob(Digest.of_bytes(b"absent"))
    assert not store.blobs.verify(digest)
