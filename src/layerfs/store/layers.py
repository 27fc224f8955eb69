"""Layers: unpack a tar once per chain id into `layers/<chain-id>/diff`, shared by all.

`unpack` applies an uncompressed layer tar into a private dir of an ingest (kernel
on-disk form, the store's whiteout format) and measures it; `commit_layer` publishes it
under its chain id, or discards it when that chain id is already present. A layer is
never visible half-unpacked: the dir is synced and renamed into place before its row is
committed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from layerfs.archive.apply import apply_tar
from layerfs.archive.compress import decompressed
from layerfs.archive.generate import write_tar
from layerfs.digest import Digest
from layerfs.errors import DigestMismatch, InvalidInput, NotFound
from layerfs.oci.chain import chain_ids
from layerfs.store.durable import publish, remove_tree, syncfs
from layerfs.store.records import LayerRecord

if TYPE_CHECKING:
    from layerfs.store.ingest import Ingest
    from layerfs.store.store import Store


@dataclass(frozen=True)
class Unpacked:
    """A layer unpacked into an ingest: `path` holds `diff/`; not yet published."""

    path: str
    diff_id: Digest
    size: int
    notes: tuple[str, ...] = ()

    @property
    def diff(self) -> str:
        return os.path.join(self.path, "diff")


def chain_of(parent: Digest | None, diff_id: Digest) -> Digest:
    """The chain id of `diff_id` on top of the stack whose chain id is `parent`."""
    if parent is None:
        return diff_id
    return chain_ids([parent, diff_id])[1]


def tree_digest(diffdir: str) -> Digest:
    """The digest of the store's deterministic re-tar of a layer dir (nothing written)."""
    with open(os.devnull, "wb") as sink:
        return write_tar(diffdir, sink).diff_id


def unpack(
    store: Store, ingest: Ingest, stream: BinaryIO, *, keep_privileged: bool = True
) -> Unpacked:
    """Apply an UNCOMPRESSED layer tar into a fresh dir of `ingest`.

    `keep_privileged` False (layers from outside: load, pull, copy, import) drops
    setuid/setgid bits, ``security.capability`` and overlay xattrs; `notes` says what.
    True (our own upper dirs) keeps them when running as root. Either way the dir's
    re-tar digest is what `commit_layer` records for `fsck --deep`.
    Raises `InvalidLayer` for hostile or malformed input (the partial dir stays in the
    ingest and goes away with it). The caller keeps ownership of `stream`.
    """
    path = ingest.temp_dir("layer")
    diff = os.path.join(path, "diff")
    os.mkdir(diff, 0o755)
    keep = None if keep_privileged else False  # None: as apply_tar decides (root keeps)
    result = apply_tar(stream, diff, fmt=store.whiteout_format, keep_privileged=keep)
    return Unpacked(path, result.diff_id, result.size, result.notes)


MAX_RATIO = 1100
"""Decompressed/compressed ratio allowed (deflate cannot exceed ~1032:1; zstd can)."""
MIN_LIMIT = 1 << 30
ENV_MAX_SIZE = "LAYERFS_MAX_LAYER_SIZE"


def size_limit(compressed_size: int) -> int:
    """The most uncompressed tar bytes a blob of `compressed_size` may expand to.

    A bomb guard: `$LAYERFS_MAX_LAYER_SIZE` when set, else max(1 GiB, 1100 × size).
    """
    env = os.environ.get(ENV_MAX_SIZE)
    if env:
        try:
            return int(env)
        except ValueError:
            raise InvalidInput(f"{ENV_MAX_SIZE}={env!r} is not a number of bytes") from None
    return max(MIN_LIMIT, MAX_RATIO * compressed_size)


def unpack_blob(
    store: Store, ingest: Ingest, digest: Digest, *, keep_privileged: bool = False
) -> Unpacked:
    """Unpack the committed layer blob `digest` (any compression), verified while read.

    `keep_privileged` as for `unpack`; False by default (blobs come from outside).

    InvalidLayer when it expands past `size_limit`; DigestMismatch if the blob changed.
    """
    limit = size_limit(store.blobs.size(digest))
    with decompressed(store.blobs.open_blob(digest), max_size=limit) as tar:
        unpacked = unpack(store, ingest, tar, keep_privileged=keep_privileged)
        tar.read()  # reach EOF of the blob so that its digest is checked
    return unpacked


def commit_layer(
    store: Store, ingest: Ingest, unpacked: Unpacked, parent: Digest | None
) -> LayerRecord:
    """Publish `unpacked` as the layer on top of `parent` (idempotent per chain id).

    When the chain id is already committed the unpacked copy is discarded and the
    existing record returned. Either way the layer is leased to `ingest`.
    """
    chain = chain_of(parent, unpacked.diff_id)
    if store.has_layer(chain):
        with store.lock:
            if store.has_layer(chain):
                ingest.use("layer", chain)
                remove_tree(unpacked.path)
                return store.layer(chain)
    digest = tree_digest(unpacked.diff)
    syncfs(unpacked.path)
    with store.lock:
        if store.has_layer(chain):  # another writer committed it meanwhile
            ingest.use("layer", chain)
            remove_tree(unpacked.path)
            return store.layer(chain)
        if parent is not None and not store.has_layer(parent):
            raise NotFound(f"parent layer {parent} is not in the store")
        ingest.use("layer", chain)
        final = store.paths.layer(chain)
        remove_tree(final)  # a leftover of a rolled-back lease; no row names it
        publish(unpacked.path, final)
        record = LayerRecord(
            chain_id=chain,
            diff_id=unpacked.diff_id,
            parent=parent,
            size=unpacked.size,
            tree_digest=digest,
            whiteouts=store.whiteout_format.value,
            created=time.time(),
        )
        with store.transaction() as db:
            db.execute(
                "INSERT INTO layers(chain_id, diff_id, parent, size, tree_digest, whiteouts,"
                " created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    str(chain),
                    str(record.diff_id),
                    None if parent is None else str(parent),
                    record.size,
                    str(record.tree_digest),
                    record.whiteouts,
                    record.created,
                ),
            )
        return record


def use_layer(store: Store, ingest: Ingest, chain: Digest) -> LayerRecord | None:
    """Lease an already committed layer to `ingest`; None when it is not in the store."""
    with store.lock:
        if not store.has_layer(chain):
            return None
        ingest.use("layer", chain)
        return store.layer(chain)


def rebuild_layer(store: Store, record: LayerRecord) -> bool:
    """Unpack a layer whose dir is missing again from a blob an image ships it as.

    Returns False when no image has a blob for it (nothing changes then). Raises
    DigestMismatch / InvalidLayer if the blob no longer gives the layer's diff_id. Never
    touches an existing dir (a dir in use by mounts must not change under them).
    """
    row = store.db.execute(
        "SELECT blob_digest FROM image_layers WHERE chain_id = ? LIMIT 1", (str(record.chain_id),)
    ).fetchone()
    if row is None or not store.blobs.exists(Digest.parse(row[0])):
        return False
    with store.ingest() as ingest:
        # the layer was unpacked with privileged bits dropped or kept: the policy whose
        # re-tar matches the one recorded at commit (dropped first: the safer guess)
        for keep in (False, True):
            unpacked = unpack_blob(store, ingest, Digest.parse(row[0]), keep_privileged=keep)
            if unpacked.diff_id != record.diff_id:
                raise DigestMismatch(
                    f"layer {record.chain_id}: blob {row[0]} gives {unpacked.diff_id},"
                    f" the layer is {record.diff_id}"
                )
            if not unpacked.notes or tree_digest(unpacked.diff) == record.tree_digest:
                break
            remove_tree(unpacked.path)
        syncfs(unpacked.path)
        with store.lock:
            final = store.paths.layer(record.chain_id)
            if os.path.isdir(os.path.join(final, "diff")):
                return True
            remove_tree(final)
            publish(unpacked.path, final)
    return True
