"""Rows of meta.db as frozen values."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from layerfs.digest import Digest


def _opt_digest(text: str | None) -> Digest | None:
    return None if text is None else Digest.parse(text)


@dataclass(frozen=True)
class LayerRecord:
    """A committed layer: `layers/<chain_id>/diff` exists and holds it.

    `size` is the uncompressed tar size (what `history` and `images` add up);
    `tree_digest` the digest of the store's own re-tar of the dir at commit time, which
    `fsck --deep` compares with a fresh re-tar (equal to `diff_id` when the layer was
    made by layerfs's deterministic generator).
    """

    chain_id: Digest
    diff_id: Digest
    parent: Digest | None
    size: int
    tree_digest: Digest
    whiteouts: str
    created: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> LayerRecord:
        return cls(
            chain_id=Digest.parse(row["chain_id"]),
            diff_id=Digest.parse(row["diff_id"]),
            parent=_opt_digest(row["parent"]),
            size=row["size"],
            tree_digest=Digest.parse(row["tree_digest"]),
            whiteouts=row["whiteouts"],
            created=row["created"],
        )


@dataclass(frozen=True)
class ImageLayerRecord:
    """One layer of one image: its chain id and the blob the image ships it as."""

    index: int
    chain_id: Digest
    blob_digest: Digest
    blob_size: int
    media_type: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ImageLayerRecord:
        return cls(
            index=row["idx"],
            chain_id=Digest.parse(row["chain_id"]),
            blob_digest=Digest.parse(row["blob_digest"]),
            blob_size=row["blob_size"],
            media_type=row["media_type"],
        )


@dataclass(frozen=True)
class ImageRecord:
    """An image of the store. `id` is the config digest (docker's image ID)."""

    id: Digest
    manifest_digest: Digest
    manifest_media_type: str
    top_chain: Digest | None
    created: str | None
    size: int
    added: float
    tags: tuple[str, ...]

    @classmethod
    def from_row(cls, row: sqlite3.Row, tags: tuple[str, ...]) -> ImageRecord:
        return cls(
            id=Digest.parse(row["id"]),
            manifest_digest=Digest.parse(row["manifest_digest"]),
            manifest_media_type=row["manifest_media_type"],
            top_chain=_opt_digest(row["top_chain"]),
            created=row["created"],
            size=row["size"],
            added=row["added"],
            tags=tags,
        )


@dataclass(frozen=True)
class RemoveResult:
    """What `rmi` did: names untagged, image ids deleted (docker prints both)."""

    untagged: tuple[str, ...]
    deleted: tuple[Digest, ...]
