"""Image rows: write an image (`put_image`), find one (`resolve`), tag, remove.

An image row is written in one transaction after its config, manifest and layer blobs
and all its layers are committed; so an image is either fully usable or absent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from layerfs.digest import Digest
from layerfs.errors import Conflict, InvalidInput, NotFound
from layerfs.store import gc, names
from layerfs.store.records import ImageLayerRecord, ImageRecord, RemoveResult

if TYPE_CHECKING:
    from layerfs.store.ingest import Ingest
    from layerfs.store.store import Store


@dataclass(frozen=True)
class NewImage:
    """What `put_image` needs: committed blobs and layers (base first) of one image."""

    config_digest: Digest
    manifest_digest: Digest
    manifest_media_type: str
    created: str | None
    layers: tuple[ImageLayerRecord, ...]


def put_image(store: Store, ingest: Ingest, image: NewImage, tags: Sequence[str]) -> ImageRecord:
    """Write the image rows and move `tags` to it (idempotent for an existing image).

    Every blob and layer must be committed and leased to `ingest`; InvalidInput
    otherwise. A tag that named another image moves (the old image stays, untagged).
    """
    normalized = [names.normalize(t) for t in tags]
    with store.lock:
        for d in (image.config_digest, image.manifest_digest):
            if not store.blobs.exists(d):
                raise InvalidInput(f"image {image.config_digest}: blob {d} is not committed")
        size = 0
        for layer in image.layers:
            size += store.layer(layer.chain_id).size
            if not store.blobs.exists(layer.blob_digest):
                raise InvalidInput(f"layer blob {layer.blob_digest} is not committed")
        top = str(image.layers[-1].chain_id) if image.layers else None
        with store.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO images(id, manifest_digest, manifest_media_type,"
                " top_chain, created, size, added) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    str(image.config_digest),
                    str(image.manifest_digest),
                    image.manifest_media_type,
                    top,
                    image.created,
                    size,
                    time.time(),
                ),
            )
            db.executemany(
                "INSERT OR IGNORE INTO image_layers(image_id, idx, chain_id, blob_digest,"
                " blob_size, media_type) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        str(image.config_digest),
                        rec.index,
                        str(rec.chain_id),
                        str(rec.blob_digest),
                        rec.blob_size,
                        rec.media_type,
                    )
                    for rec in image.layers
                ],
            )
            db.executemany(
                "INSERT OR REPLACE INTO tags(name, image_id) VALUES (?, ?)",
                [(t, str(image.config_digest)) for t in normalized],
            )
    return get(store, image.config_digest)


def _tags(store: Store, image_id: str) -> tuple[str, ...]:
    q = "SELECT name FROM tags WHERE image_id = ? ORDER BY name"
    return tuple(r[0] for r in store.db.execute(q, (image_id,)))


def get(store: Store, image_id: Digest) -> ImageRecord:
    row = store.db.execute("SELECT * FROM images WHERE id = ?", (str(image_id),)).fetchone()
    if row is None:
        raise NotFound(f"image {image_id} is not in the store")
    return ImageRecord.from_row(row, _tags(store, row["id"]))


def list_images(store: Store) -> list[ImageRecord]:
    """Every image, newest added first."""
    rows = store.db.execute("SELECT * FROM images ORDER BY added DESC, id").fetchall()
    return [ImageRecord.from_row(r, _tags(store, r["id"])) for r in rows]


def image_layers(store: Store, image_id: Digest) -> list[ImageLayerRecord]:
    """The layers of an image, base first."""
    q = "SELECT * FROM image_layers WHERE image_id = ? ORDER BY idx"
    return [ImageLayerRecord.from_row(r) for r in store.db.execute(q, (str(image_id),))]


def resolve(store: Store, ref: str) -> ImageRecord:
    """Find an image by name (`repo[:tag]`), full id (`sha256:…`) or unique id prefix.

    NotFound when nothing matches; InvalidInput when an id prefix is ambiguous.
    """
    if names.is_name(ref):
        row = store.db.execute(
            "SELECT image_id FROM tags WHERE name = ?", (names.normalize(ref),)
        ).fetchone()
        if row is not None:
            return get(store, Digest.parse(row[0]))
    hexpart = ref.removeprefix("sha256:")
    if hexpart and all(c in "0123456789abcdef" for c in hexpart) and len(hexpart) <= 64:
        rows = store.db.execute(
            "SELECT id FROM images WHERE id LIKE ?", (f"sha256:{hexpart}%",)
        ).fetchall()
        if len(rows) == 1:
            return get(store, Digest.parse(rows[0][0]))
        if len(rows) > 1:
            raise InvalidInput(f"image id prefix {ref!r} is ambiguous ({len(rows)} images)")
    raise NotFound(f"image {ref!r} is not in the store")


def tag(store: Store, ref: str, new_name: str) -> ImageRecord:
    """Give the image `ref` the name `new_name` (moved from another image if needed)."""
    target = names.normalize(new_name)
    with store.lock:
        image = resolve(store, ref)
        with store.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO tags(name, image_id) VALUES (?, ?)",
                (target, str(image.id)),
            )
    return get(store, image.id)


def image_users(store: Store, image_id: Digest) -> list[str]:
    """Keys of the snapshots created for image `image_id` (label `image`), e.g. containers.

    This is the hook `rmi` consults; the container code labels its snapshots with the
    image id when it prepares them.
    """
    rows = store.db.execute("SELECT key, labels FROM snapshots ORDER BY key").fetchall()
    return [r["key"] for r in rows if json.loads(r["labels"]).get("image") == str(image_id)]


def remove(store: Store, refs: Sequence[str], *, force: bool = False) -> RemoveResult:
    """docker rmi: untag each name; delete images left without tags, then collect garbage.

    A reference by id to an image with several tags needs `force` (then every tag goes).
    An image used by a snapshot (a container) is never deleted: Conflict without
    `force`; with `force` its tags go and the image stays. All checks happen before
    anything changes, so an error leaves the store as it was.
    """
    untagged: list[str] = []
    doomed: list[Digest] = []
    with store.lock:
        plan: list[tuple[ImageRecord, list[str]]] = []
        for ref in refs:
            image = resolve(store, ref)
            by_name = names.is_name(ref) and names.normalize(ref) in image.tags
            drop = [names.normalize(ref)] if by_name else list(image.tags)
            if not by_name and len(image.tags) > 1 and not force:
                raise Conflict(
                    f"unable to delete {image.id.short} (must be forced) - image is"
                    f" referenced in multiple repositories: {', '.join(image.tags)}"
                )
            users = image_users(store, image.id)
            if users and not force and set(drop) >= set(image.tags):
                raise Conflict(
                    f"unable to remove image {ref!r}: it is used by container(s) {', '.join(users)}"
                )
            plan.append((image, drop))
        with store.transaction() as db:
            for image, drop in plan:
                for name in drop:
                    db.execute("DELETE FROM tags WHERE name = ?", (name,))
                    untagged.append(name)
                left = db.execute(
                    "SELECT COUNT(*) FROM tags WHERE image_id = ?", (str(image.id),)
                ).fetchone()[0]
                if left == 0 and not image_users(store, image.id) and image.id not in doomed:
                    db.execute("DELETE FROM images WHERE id = ?", (str(image.id),))
                    doomed.append(image.id)
        gc.collect(store)
    return RemoveResult(tuple(untagged), tuple(doomed))
