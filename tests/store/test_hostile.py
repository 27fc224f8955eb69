"""Bad input through the store: bombs, truncation, missing blobs, races of writers."""

from __future__ import annotations

import gzip
import threading

import pytest

from archive.tars import d, f, tar_bytes
from layerfs.errors import BlobNotFound, InvalidInput, InvalidLayer
from layerfs.store.fsck import fsck
from layerfs.store.put import add_image
from layerfs.store.store import Store
from store.helpers import MemoryImage, listing, rows

BASE = tar_bytes([d("etc"), f("etc/a", b"a\n")])


def _unchanged(store: Store, image: MemoryImage, error: type[BaseException]) -> None:
    before, before_rows = listing(store.paths.root), rows(store)
    with pytest.raises(error):
        add_image(store, image, ["bad"])
    assert listing(store.paths.root) == before
    assert rows(store) == before_rows
    assert fsck(store).clean


def test_gzip_bomb_is_refused(store: Store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    add_image(store, MemoryImage([BASE]), ["base"])
    monkeypatch.setenv("LAYERFS_MAX_LAYER_SIZE", str(1 << 20))
    bomb = MemoryImage([BASE, tar_bytes([f("zeros", bytes(8 << 20))])])
    assert bomb.layers()[1].size() < 64 << 10
    _unchanged(store, bomb, InvalidLayer)


def test_truncated_layer_is_refused(store: Store) -> None:
    add_image(store, MemoryImage([BASE]), ["base"])
    image = MemoryImage([BASE, tar_bytes([f("big", b"y" * 100_000)])])
    layer = image.layers()[1]
    layer.tar = layer.tar[:50_000]
    layer.blob = gzip.compress(layer.tar)
    layer._digest = type(layer.digest()).of_bytes(layer.blob)
    _unchanged(store, image, (InvalidLayer, InvalidInput))  # type: ignore[arg-type]


def test_missing_blob_is_refused(store: Store) -> None:
    add_image(store, MemoryImage([BASE]), ["base"])
    image = MemoryImage([BASE, tar_bytes([f("x", b"x")])])

    def gone() -> object:
        raise BlobNotFound("blob sha256:… is not in the registry")

    image.layers()[1].compressed = gone  # type: ignore[method-assign]
    _unchanged(store, image, BlobNotFound)


def test_config_and_layers_disagree(store: Store) -> None:
    image = MemoryImage([BASE])
    image._layers.append(image._layers[0])  # two layers, one diff_id
    _unchanged(store, image, InvalidInput)


def test_concurrent_writers_share_layers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = str(tmp_path / "store")
    tars = [BASE, tar_bytes([f(f"big{i}", bytes([i]) * 200_000) for i in range(20)])]
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with Store.open(root) as s:
                add_image(s, MemoryImage(tars), [f"img:{n}"])
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Store.open(root) as s:
        assert len(s.images()) == 1 and len(s.images()[0].tags) == 4
        assert len(s.layers()) == 2
        assert fsck(s, deep=True).clean
