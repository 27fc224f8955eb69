"""Adding images to the store: from any `Image` representation, or from new blobs.

`add_image` copies an image given through the one image interface (OCI layout, archive,
registry, another store): each layer blob is fetched only if missing and verified while
written, each layer unpacked only if its chain id is new, and the image rows written
last. A failure (bad digest, hostile tar) rolls the ingest back: the store is as before.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, BinaryIO

from layerfs.digest import Digest
from layerfs.errors import DigestMismatch, InvalidInput
from layerfs.oci import mediatypes as mt
from layerfs.oci.chain import chain_ids
from layerfs.oci.descriptor import Descriptor
from layerfs.oci.image import Image, Layer
from layerfs.oci.manifest import Manifest
from layerfs.store import images
from layerfs.store.blobs import write_temp
from layerfs.store.images import NewImage
from layerfs.store.layers import commit_layer, unpack_blob, use_layer
from layerfs.store.partial import fetch_blob
from layerfs.store.records import ImageLayerRecord, ImageRecord

if TYPE_CHECKING:
    from layerfs.store.ingest import Ingest
    from layerfs.store.store import Store

Progress = Callable[[str, int], None]
"""Called with (event, bytes): "blob" after a blob is stored, "layer" after a layer."""
Note = Callable[[str], None]
"""Called with one line per thing the unpack dropped by policy (setuid bit, xattr...)."""


def store_blob(
    ingest: Ingest, stream: BinaryIO, expected: Digest | None = None
) -> tuple[Digest, int]:
    """Write `stream` as a blob (verified against `expected` if given); (digest, size).

    An existing blob with the expected digest is reused without reading `stream`.
    The caller keeps ownership of `stream`.
    """
    if expected is not None and ingest.use_blob(expected):
        return expected, ingest.store.blobs.size(expected)
    tmp = ingest.temp_path("blob")
    digest, size = write_temp(stream, tmp, expected)
    ingest.commit_blob(tmp, digest)
    return digest, size


def _layer_blob(ingest: Ingest, layer: Layer) -> tuple[Digest, int]:
    """Store a layer's blob; through its partial download when the representation can
    start mid-blob (a registry), so that a pull killed half-way resumes on the next run."""
    expected = layer.digest()
    ranged = getattr(layer, "compressed_from", None)
    if (ranged is not None and not ingest.use_blob(expected)
            and fetch_blob(ingest, expected, layer.size(), ranged)):
        return expected, ingest.store.blobs.size(expected)
    with layer.compressed() as stream:
        return store_blob(ingest, stream, expected)


def store_bytes(ingest: Ingest, data: bytes) -> Digest:
    """Store small content (config, manifest) as a blob; returns its digest."""
    return store_blob(ingest, io.BytesIO(data))[0]


def _raw(image: Image, method: str, fallback: bytes) -> bytes:
    raw = getattr(image, method, None)
    return raw() if callable(raw) else fallback


def add_image(
    store: Store,
    image: Image,
    tags: Sequence[str] = (),
    progress: Progress | None = None,
    *,
    keep_privileged: bool = False,
    note: Note | None = None,
) -> ImageRecord:
    """Copy `image` into the store under `tags`; returns its record (idempotent).

    The config and manifest are kept byte for byte when the representation offers
    `raw_config()`/`raw_manifest()`; otherwise they are re-encoded canonically (a new
    manifest digest; the image id changes only if the original config was not canonical).
    New layers drop setuid/setgid bits, ``security.capability`` and overlay xattrs
    unless `keep_privileged` (the image comes from outside); each drop is passed to
    `note`. The diff_ids stay those of the blobs. Raises DigestMismatch / InvalidLayer /
    InvalidInput; the store is then unchanged.
    """
    config = image.config()
    manifest = image.manifest()
    layers = image.layers()
    if len(layers) != len(config.diff_ids):
        raise InvalidInput(
            f"image has {len(layers)} layers but its config lists {len(config.diff_ids)} diff_ids"
        )
    with store.ingest() as ingest:
        config_bytes = _raw(image, "raw_config", config.to_json())
        config_digest = store_bytes(ingest, config_bytes)
        entries: list[ImageLayerRecord] = []
        parent: Digest | None = None
        for index, (layer, diff_id, chain) in enumerate(
            zip(layers, config.diff_ids, chain_ids(config.diff_ids), strict=True)
        ):
            digest, size = _layer_blob(ingest, layer)
            if progress:
                progress("blob", size)
            if use_layer(store, ingest, chain) is None:
                unpacked = unpack_blob(store, ingest, digest, keep_privileged=keep_privileged)
                for line in unpacked.notes if note else ():
                    note(f"layer {index}: {line}")
                if unpacked.diff_id != diff_id:
                    raise DigestMismatch(
                        f"layer {index} ({digest}): tar hashes to {unpacked.diff_id},"
                        f" the config says {diff_id}"
                    )
                commit_layer(store, ingest, unpacked, parent)
            if progress:
                progress("layer", size)
            entries.append(ImageLayerRecord(index, chain, digest, size, layer.media_type()))
            parent = chain
        if config_digest != manifest.config.digest:
            manifest = Manifest(
                config=Descriptor(manifest.config.media_type, config_digest, len(config_bytes)),
                layers=manifest.layers,
                media_type=manifest.media_type,
                annotations=manifest.annotations,
            )
            manifest_bytes = manifest.to_json()
        else:
            manifest_bytes = _raw(image, "raw_manifest", manifest.to_json())
        manifest_digest = store_bytes(ingest, manifest_bytes)
        new = NewImage(
            config_digest=config_digest,
            manifest_digest=manifest_digest,
            manifest_media_type=manifest.media_type or mt.OCI_MANIFEST,
            created=config.created,
            layers=tuple(entries),
        )
        return images.put_image(store, ingest, new, tags)
