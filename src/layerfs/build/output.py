"""The built image: config + manifest blobs and the image rows, from a step result.

Every layer's blob must be in the store: a cached layer whose blob was garbage-collected
(the cache keeps layer dirs, not blobs) gets it back by re-taring its layer dir; when
that tar's diff_id differs from the recorded one the layer cannot be reproduced and
`StaleLayer` is raised (the builder then runs the step again).

Layer-count guard: more than `WARN_LAYERS` layers is a warning, `MAX_LAYERS` or more an
error (the kernel overlay driver stacks at most 500 lowerdirs).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from layerfs.archive.compress import compress_stream
from layerfs.archive.generate import write_tar
from layerfs.build.cache import LayerRef, StepResult
from layerfs.digest import Digest
from layerfs.errors import InvalidInput, InvalidLayer
from layerfs.oci import mediatypes as mt
from layerfs.oci.descriptor import Descriptor
from layerfs.oci.manifest import Manifest
from layerfs.store import gc, images
from layerfs.store.durable import remove_tree
from layerfs.store.images import NewImage
from layerfs.store.put import store_bytes
from layerfs.store.records import ImageLayerRecord, ImageRecord

if TYPE_CHECKING:
    from layerfs.store.ingest import Ingest
    from layerfs.store.store import Store

WARN_LAYERS = 100
MAX_LAYERS = 500


class StaleLayer(InvalidLayer):
    """A cached layer whose blob is gone and cannot be made again byte for byte."""


def check_layer_count(n: int) -> str | None:
    """None, or a warning for more than WARN_LAYERS; InvalidInput at MAX_LAYERS or more."""
    if n >= MAX_LAYERS:
        raise InvalidInput(
            f"the image would have {n} layers: the kernel overlay driver stacks at most"
            f" {MAX_LAYERS - 1} lower layers plus an upper; combine RUN steps or use --squash"
        )
    if n > WARN_LAYERS:
        return f"the image has {n} layers (more than {WARN_LAYERS}): mounts get slower"
    return None


def ensure_blob(store: Store, ingest: Ingest, layer: LayerRef) -> None:
    """Lease the layer's blob, re-creating it from the layer dir when it was collected."""
    if ingest.use_blob(layer.blob):
        return
    tar_path = ingest.temp_path("regen-tar")
    with open(tar_path, "wb") as out:
        generated = write_tar(store.paths.layer_diff(layer.chain_id), out)
    if generated.diff_id != layer.diff_id:
        os.unlink(tar_path)
        raise StaleLayer(f"layer {layer.chain_id}: its blob is gone and re-taring gives"
                         f" {generated.diff_id}, not {layer.diff_id}")
    algo = "zstd" if "zstd" in layer.media_type else "gzip"
    tmp = ingest.temp_path("regen-blob")
    with open(tar_path, "rb") as src, open(tmp, "wb") as dst:
        digest = compress_stream(src, dst, algo).digest
        dst.flush()
        os.fsync(dst.fileno())
    os.unlink(tar_path)
    if digest != layer.blob:
        os.unlink(tmp)
        raise StaleLayer(f"layer {layer.chain_id}: re-compressed blob {digest} differs from"
                         f" {layer.blob}")
    ingest.commit_blob(tmp, digest)


def drop_unused_blobs(store: Store, ingest: Ingest, layers: Iterable[LayerRef],
                      keep: StepResult) -> list[Digest]:
    """Remove the blobs of `layers` that the image `keep` does not use and nothing else
    references (other stages, squashed-away layers): the cache keeps their layer dirs,
    and `ensure_blob` makes a blob again when a later image needs one. The removed."""
    wanted = {lr.blob for lr in keep.layers}
    removed = []
    with store.lock:
        for lr in {lr.blob: lr for lr in layers}.values():
            if lr.blob in wanted or not store.blobs.exists(lr.blob):
                continue
            if gc.unreferenced_blob(store, lr.blob, exclude_lease=ingest.id):
                remove_tree(store.blobs.path(lr.blob))
                removed.append(lr.blob)
    return removed


def write_image(store: Store, ingest: Ingest, result: StepResult, tags: Sequence[str]
                ) -> ImageRecord:
    """Store `result` as an image tagged `tags` (idempotent for the same config)."""
    for layer in result.layers:
        ensure_blob(store, ingest, layer)
    config_bytes = result.config.to_json()
    config_digest = store_bytes(ingest, config_bytes)
    manifest = Manifest(
        config=Descriptor(mt.OCI_CONFIG, config_digest, len(config_bytes)),
        layers=tuple(Descriptor(lr.media_type, lr.blob, lr.blob_size) for lr in result.layers),
        media_type=mt.OCI_MANIFEST,
    )
    record = NewImage(
        config_digest=config_digest,
        manifest_digest=store_bytes(ingest, manifest.to_json()),
        manifest_media_type=mt.OCI_MANIFEST,
        created=result.config.created,
        layers=tuple(
            ImageLayerRecord(i, lr.chain_id, lr.blob, lr.blob_size, lr.media_type)
            for i, lr in enumerate(result.layers)
        ),
    )
    return images.put_image(store, ingest, record, tags)
