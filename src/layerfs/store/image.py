"""The store's representation of the one image interface (`layerfs.oci.image`).

`StoreImage` and `StoreLayer` read the store's blobs (verified while streaming) and add
what only the store has: the chain id and the unpacked `diff` dir of each layer, and the
raw manifest/config bytes (`raw_manifest()`, `raw_config()`), so that copying an image
out keeps its digests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from layerfs.archive.compress import decompressed
from layerfs.digest import Digest
from layerfs.oci.config import ImageConfig
from layerfs.oci.image import Layer
from layerfs.oci.manifest import Manifest
from layerfs.store import images
from layerfs.store.records import ImageLayerRecord, ImageRecord, LayerRecord

if TYPE_CHECKING:
    from layerfs.store.store import Store


class StoreLayer:
    """One layer of a stored image (implements `layerfs.oci.image.Layer`)."""

    def __init__(self, store: Store, entry: ImageLayerRecord, layer: LayerRecord) -> None:
        self._store = store
        self.entry = entry
        self.record = layer

    def digest(self) -> Digest:
        return self.entry.blob_digest

    def diff_id(self) -> Digest:
        return self.record.diff_id

    def size(self) -> int:
        return self.entry.blob_size

    def media_type(self) -> str:
        return self.entry.media_type

    def compressed(self) -> BinaryIO:
        """The blob as stored, verified at EOF (caller closes)."""
        return self._store.blobs.open_blob(self.entry.blob_digest)

    def uncompressed(self) -> BinaryIO:
        """The layer tar (blob decompressed), blob digest verified at EOF (caller closes)."""
        return decompressed(self.compressed())

    @property
    def chain_id(self) -> Digest:
        return self.record.chain_id

    @property
    def path(self) -> str:
        """The unpacked layer (`layers/<chain-id>/diff`), overlay on-disk form; read only."""
        return self._store.paths.layer_diff(self.record.chain_id)

    @property
    def uncompressed_size(self) -> int:
        return self.record.size


class StoreImage:
    """An image of the store (implements `layerfs.oci.image.Image`)."""

    def __init__(self, store: Store, record: ImageRecord) -> None:
        self._store = store
        self.record = record

    @property
    def id(self) -> Digest:
        """Docker's image ID: the digest of the config blob."""
        return self.record.id

    def digest(self) -> Digest:
        return self.record.manifest_digest

    def raw_manifest(self) -> bytes:
        return self._store.blobs.read_bytes(self.record.manifest_digest)

    def raw_config(self) -> bytes:
        return self._store.blobs.read_bytes(self.record.id)

    def manifest(self) -> Manifest:
        return Manifest.parse(self.raw_manifest())

    def config(self) -> ImageConfig:
        return ImageConfig.parse(self.raw_config())

    def layers(self) -> list[Layer]:
        return list(self.store_layers())

    def store_layers(self) -> list[StoreLayer]:
        """`layers()` with the store's extras (chain id, unpacked path), base first."""
        return [
            StoreLayer(self._store, entry, self._store.layer(entry.chain_id))
            for entry in images.image_layers(self._store, self.record.id)
        ]

    def lowerdirs(self) -> list[str]:
        """The unpacked layer dirs, top first (the `lowerdir=` order)."""
        return [layer.path for layer in reversed(self.store_layers())]
