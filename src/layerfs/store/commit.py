"""A new layer from an upper dir: deterministic tar, unpacked as a layer, compressed blob.

Used by snapshot commit, `layerfs commit` of a container and the builder. The tar is
written once to the ingest (archive.generate.write_tar: sorted, PAX, numeric owners,
whiteouts as `.wh.`), then read twice at the same time: unpacked into the layer dir and
compressed into the blob (the compressor runs in a thread; isal and zstandard release
the GIL).
"""

from __future__ import annotations

import concurrent.futures
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from layerfs.archive.compress import compress_stream
from layerfs.archive.generate import write_tar
from layerfs.digest import Digest
from layerfs.errors import InvalidLayer
from layerfs.oci import mediatypes as mt
from layerfs.store.layers import commit_layer, unpack
from layerfs.store.records import LayerRecord

if TYPE_CHECKING:
    from layerfs.store.ingest import Ingest
    from layerfs.store.store import Store


@dataclass(frozen=True)
class NewLayer:
    """A committed layer and, when compression was asked for, its committed blob."""

    record: LayerRecord
    blob: Digest | None
    blob_size: int
    media_type: str


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
) -> NewLayer:
    """Commit the plain tar file `tar_path` as the layer on top of `parent`.

    With `compression` ("gzip", "zstd") the file is compressed into a blob at the same
    time as it is unpacked and re-hashed (a second reader in a thread); the blob is
    committed and leased to `ingest`. The file is left in place.
    """
    blob_tmp = ingest.temp_path("blob")
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        job = pool.submit(_compress, tar_path, blob_tmp, compression) if compression else None
        with open(tar_path, "rb") as tar:
            unpacked = unpack(store, ingest, tar)
        record = commit_layer(store, ingest, unpacked, parent)
        blob = job.result() if job else None
    if blob is None or compression is None:
        return NewLayer(record, None, 0, "")
    ingest.commit_blob(blob_tmp, blob[0])
    return NewLayer(record, blob[0], blob[1], mt.layer_type(compression))


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
