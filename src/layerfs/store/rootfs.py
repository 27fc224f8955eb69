"""`layerfs import`: a one-layer image from a root file system tar or directory.

Like `podman import`: the tar (plain, gzip or zstd) or the directory becomes the only
layer of a new image whose config has the host platform and one history entry. A plain
tar is compressed with gzip for the layer blob; a compressed one is kept as it is.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, BinaryIO

from layerfs.archive.compress import detect
from layerfs.archive.generate import write_tree_tar
from layerfs.errors import InvalidInput
from layerfs.oci import mediatypes as mt
from layerfs.oci.config import ContainerConfig, HistoryEntry, ImageConfig
from layerfs.oci.descriptor import Descriptor
from layerfs.oci.manifest import Manifest
from layerfs.oci.platform import Platform
from layerfs.store import images
from layerfs.store.commit import NewLayer, commit_tar_file, created_now
from layerfs.store.images import NewImage
from layerfs.store.layers import commit_layer, unpack_blob
from layerfs.store.put import store_blob, store_bytes
from layerfs.store.records import ImageLayerRecord, ImageRecord

if TYPE_CHECKING:
    from layerfs.store.ingest import Ingest
    from layerfs.store.store import Store


def _spool(ingest: Ingest, stream: BinaryIO) -> str:
    path = ingest.temp_path("input")
    with open(path, "wb") as out:
        shutil.copyfileobj(stream, out, 1 << 20)
    return path


def _layer_from_file(ingest: Ingest, path: str, keep_privileged: bool) -> NewLayer:
    """Commit the tar at `path` (plain, gzip or zstd) as a base layer with its blob."""
    with open(path, "rb") as f:
        algo = detect(f.read(8))
    if algo not in ("none", "gzip", "zstd"):
        raise InvalidInput(f"{path}: {algo} tars are not supported (use plain, gzip or zstd)")
    if algo == "none":
        return commit_tar_file(ingest.store, ingest, path, None, "gzip",
                               keep_privileged=keep_privileged)
    with open(path, "rb") as f:
        digest, size = store_blob(ingest, f)
    unpacked = unpack_blob(ingest.store, ingest, digest, keep_privileged=keep_privileged)
    record = commit_layer(ingest.store, ingest, unpacked, None)
    return NewLayer(record, digest, size, mt.layer_type(algo), unpacked.notes)


def import_rootfs(
    store: Store,
    source: str | BinaryIO,
    tags: Sequence[str] = (),
    *,
    message: str | None = None,
    config: ContainerConfig | None = None,
    keep_privileged: bool | None = None,
    note: Callable[[str], None] | None = None,
) -> ImageRecord:
    """Make a one-layer image from a tar file, a directory or a stream of a tar.

    `message` becomes the history comment (podman's `--message`); `config` the run
    defaults (env, cmd...). A tar comes from outside: setuid/setgid bits,
    ``security.capability`` and overlay xattrs are dropped (each passed to `note`) unless
    `keep_privileged`; a directory is the caller's own (default: kept). Hostile tars
    raise InvalidLayer and leave the store unchanged.
    """
    label = source if isinstance(source, str) else "-"
    is_dir = isinstance(source, str) and os.path.isdir(source)
    with store.ingest() as ingest:
        if is_dir:
            path = ingest.temp_path("tree-tar")
            with open(path, "wb") as out:
                write_tree_tar(source, out)
        elif isinstance(source, str):
            if not os.path.isfile(source):
                raise InvalidInput(f"{source}: no such file or directory")
            path = source
        else:
            path = _spool(ingest, source)
        new = _layer_from_file(ingest, path, is_dir if keep_privileged is None else keep_privileged)
        for line in new.notes if note else ():
            note(line)
        layer, blob, blob_size, media_type = new.record, new.blob, new.blob_size, new.media_type
        assert blob is not None
        created = created_now()
        host = Platform.host()
        image_config = ImageConfig(
            architecture=host.architecture,
            os=host.os,
            variant=host.variant,
            config=config or ContainerConfig(),
            created=created,
        ).with_layer(
            layer.diff_id,
            HistoryEntry(
                created=created,
                created_by=f"layerfs import {os.path.basename(label) or label}",
                comment=message or f"Imported from {label}",
            ),
        )
        config_bytes = image_config.to_json()
        config_digest = store_bytes(ingest, config_bytes)
        manifest = Manifest(
            config=Descriptor(mt.OCI_CONFIG, config_digest, len(config_bytes)),
            layers=(Descriptor(media_type, blob, blob_size),),
            media_type=mt.OCI_MANIFEST,
        )
        manifest_digest = store_bytes(ingest, manifest.to_json())
        new = NewImage(
            config_digest=config_digest,
            manifest_digest=manifest_digest,
            manifest_media_type=mt.OCI_MANIFEST,
            created=created,
            layers=(ImageLayerRecord(0, layer.chain_id, blob, blob_size, media_type),),
        )
        return images.put_image(store, ingest, new, tags)
