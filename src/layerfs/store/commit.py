"""A new layer from an upper dir: deterministic tar, unpacked as a layer, compressed blob.

Used by snapshot commit, `layerfs commit` of a container and the builder. The tar is
written once to the ingest (archive.generate.write_tar: sorted, PAX, numeric owners,
whiteouts as `.wh.`), then read twice at the same time: unpacked into the layer dir and
compressed into the blob (the compressor runs in a thread; isal and zstandard release
the GIL).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from layerfs.archive.compress import compress_stream
from layerfs.archive.generate import write_tar
from layerfs.digest import Digest
from layerfs.errors import InvalidInput, InvalidLayer, NotFound
from layerfs.oci import mediatypes as mt
from layerfs.oci.config import ContainerConfig, HistoryEntry, ImageConfig
from layerfs.oci.descriptor import Descriptor
from layerfs.oci.manifest import Manifest
from layerfs.oci.platform import Platform
from layerfs.store import images
from layerfs.store.images import NewImage
from layerfs.store.layers import commit_layer, unpack, use_layer
from layerfs.store.put import store_bytes
from layerfs.store.records import ImageLayerRecord, ImageRecord, LayerRecord

if TYPE_CHECKING:
    from layerfs.store.image import StoreImage
    from layerfs.store.ingest import Ingest
    from layerfs.store.store import Store


@dataclass(frozen=True)
class NewLayer:
    """A committed layer and, when compression was asked for, its committed blob."""

    record: LayerRecord
    blob: Digest | None
    blob_size: int
    media_type: str
    notes: tuple[str, ...] = ()  # what the unpack dropped by policy


def created_now() -> str:
    """RFC 3339 UTC time: `SOURCE_DATE_EPOCH` when set (reproducible), else now."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            when = datetime.datetime.fromtimestamp(int(epoch), datetime.UTC)
        except ValueError:
            raise InvalidInput(f"SOURCE_DATE_EPOCH={epoch!r} is not an integer") from None
    else:
        when = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _compress(tar_path: str, tmp: str, algo: str) -> tuple[Digest, int]:
    with open(tar_path, "rb") as src, open(tmp, "wb") as dst:
        result = compress_stream(src, dst, algo)
        dst.flush()
        os.fsync(dst.fileno())
    return result.digest, result.size


def commit_tar_file(
    store: Store,
    ingest: Ingest,
    tar_path: str,
    parent: Digest | None,
    compression: str | None,
    *,
    keep_privileged: bool = True,
) -> NewLayer:
    """Commit the plain tar file `tar_path` as the layer on top of `parent`.

    `keep_privileged` as for `layers.unpack` (False for a tar from outside).

    With `compression` ("gzip", "zstd") the file is compressed into a blob at the same
    time as it is unpacked and re-hashed (a second reader in a thread); the blob is
    committed and leased to `ingest`. The file is left in place.
    """
    blob_tmp = ingest.temp_path("blob")
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        job = pool.submit(_compress, tar_path, blob_tmp, compression) if compression else None
        with open(tar_path, "rb") as tar:
            unpacked = unpack(store, ingest, tar, keep_privileged=keep_privileged)
        record = commit_layer(store, ingest, unpacked, parent)
        blob = job.result() if job else None
    if blob is None or compression is None:
        return NewLayer(record, None, 0, "", unpacked.notes)
    ingest.commit_blob(blob_tmp, blob[0])
    return NewLayer(record, blob[0], blob[1], mt.layer_type(compression), unpacked.notes)


def layer_from_upper(
    store: Store,
    ingest: Ingest,
    upperdir: str,
    parent: Digest | None,
    *,
    compression: str | None = "gzip",
    source_date_epoch: int | None = None,
) -> NewLayer:
    """Commit the changes in `upperdir` as the layer on top of `parent`.

    `compression` "gzip" or "zstd" also stores the layer blob (leased to `ingest`, so
    the caller can write an image in the same ingest); None stores only the layer.
    `upperdir` is only read.
    """
    tar_path = ingest.temp_path("tar")
    with open(tar_path, "wb") as out:
        generated = write_tar(upperdir, out, source_date_epoch=source_date_epoch)
    new = commit_tar_file(store, ingest, tar_path, parent, compression)
    os.unlink(tar_path)
    if new.record.diff_id != generated.diff_id:
        raise InvalidLayer(
            f"{upperdir}: generated tar {generated.diff_id} unpacked as {new.record.diff_id}"
        )
    return new


def commit_image(
    store: Store,
    upperdir: str,
    base: StoreImage | None,
    tags: Sequence[str] = (),
    *,
    history: HistoryEntry | None = None,
    config: ContainerConfig | None = None,
    compression: str = "gzip",
    source_date_epoch: int | None = None,
) -> ImageRecord:
    """A new image: `base` (None: from scratch) plus one layer made of `upperdir`.

    The config is the base's with the new diff_id and `history` appended (its
    `created` defaults to now, or SOURCE_DATE_EPOCH) and, when given, `config` as the
    new run defaults. The base's blobs and layers are leased for the duration, so a
    concurrent rmi cannot pull them away. What `docker commit` and a build step do.
    """
    with store.ingest() as ingest:
        entries: list[ImageLayerRecord] = []
        descriptors: list[Descriptor] = []
        if base is not None:
            image_config = base.config()
            for layer in base.store_layers():
                if (
                    not ingest.use_blob(layer.digest())
                    or use_layer(store, ingest, layer.chain_id) is None
                ):
                    raise NotFound(f"image {base.id.short} lost layer {layer.chain_id}")
                entries.append(layer.entry)
                descriptors.append(Descriptor(layer.media_type(), layer.digest(), layer.size()))
            parent = entries[-1].chain_id if entries else None
        else:
            host = Platform.host()
            image_config = ImageConfig(host.architecture, host.os, variant=host.variant)
            parent = None
        new = layer_from_upper(
            store,
            ingest,
            upperdir,
            parent,
            compression=compression,
            source_date_epoch=source_date_epoch,
        )
        assert new.blob is not None
        created = created_now()
        entry = history or HistoryEntry()
        if entry.created is None:
            entry = dataclasses.replace(entry, created=created)
        image_config = image_config.with_layer(new.record.diff_id, entry).replace(created=created)
        if config is not None:
            image_config = image_config.replace(config=config)
        entries.append(
            ImageLayerRecord(
                len(entries), new.record.chain_id, new.blob, new.blob_size, new.media_type
            )
        )
        descriptors.append(Descriptor(new.media_type, new.blob, new.blob_size))
        config_bytes = image_config.to_json()
        config_digest = store_bytes(ingest, config_bytes)
        manifest = Manifest(
            config=Descriptor(mt.OCI_CONFIG, config_digest, len(config_bytes)),
            layers=tuple(descriptors),
            media_type=mt.OCI_MANIFEST,
        )
        record = NewImage(
            config_digest=config_digest,
            manifest_digest=store_bytes(ingest, manifest.to_json()),
            manifest_media_type=mt.OCI_MANIFEST,
            created=created,
            layers=tuple(entries),
        )
        return images.put_image(store, ingest, record, tags)
