"""`layerfs export IMAGE`: the flattened root file system of an image as one tar."""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from layerfs.archive.generate import write_tree_tar
from layerfs.store.flatten import flatten

if TYPE_CHECKING:
    from layerfs.store.store import Store


def export_image(store: Store, ref: str, out: BinaryIO) -> int:
    """Write the union of the image's layers to `out` as a plain tar; returns its size.

    The tar is deterministic (archive.generate.write_tree_tar) and holds no whiteouts.
    `out` is not closed. The temporary merged tree lives in an ingest and is removed.
    """
    image = store.image(ref)
    layers = [layer.path for layer in image.store_layers()]
    with store.ingest() as ingest:
        tree = ingest.temp_dir("export")
        flatten(layers, tree)
        return write_tree_tar(tree, out).size
