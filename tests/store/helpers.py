"""Test helpers for the store: an in-memory `Image` and store listings."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from collections.abc import Sequence
from typing import BinaryIO

from layerfs.digest import Digest
from layerfs.oci import mediatypes as mt
from layerfs.oci.config import HistoryEntry, ImageConfig
from layerfs.oci.descriptor import Descriptor
from layerfs.oci.manifest import Manifest


class MemoryLayer:
    """A layer held in memory as a gzip blob (implements `layerfs.oci.image.Layer`)."""

    def __init__(self, tar: bytes) -> None:
        self.tar = tar
        self.blob = gzip.compress(tar, mtime=0)
        self._digest = Digest.of_bytes(self.blob)  # as announced; `blob` may be corrupted

    def digest(self) -> Digest:
        return self._digest

    def diff_id(self) -> Digest:
        return Digest.of_bytes(self.tar)

    def size(self) -> int:
        return len(self.blob)

    def media_type(self) -> str:
        return mt.OCI_LAYER_GZIP

    def compressed(self) -> BinaryIO:
        return io.BytesIO(self.blob)

    def uncompressed(self) -> BinaryIO:
        return io.BytesIO(self.tar)


class MemoryImage:
    """An image made of layer tars (base first) with one history entry per layer."""

    def __init__(self, tars: Sequence[bytes], created_by: Sequence[str] = (), **config: object):
        self._layers = [MemoryLayer(t) for t in tars]
        cfg = ImageConfig(architecture="amd64", os="linux", created="2024-01-01T00:00:00Z")
        if config:
            cfg = cfg.with_config(**config)
        for i, layer in enumerate(self._layers):
            what = created_by[i] if i < len(created_by) else f"RUN step {i}"
            cfg = cfg.with_layer(layer.diff_id(), HistoryEntry("2024-01-01T00:00:00Z", what))
        cfg = cfg.with_history(HistoryEntry("2024-01-01T00:00:00Z", 'CMD ["sh"]', True))
        self._config = cfg
        self._manifest = Manifest(
            config=Descriptor(mt.OCI_CONFIG, cfg.digest(), len(cfg.to_json())),
            layers=tuple(
                Descriptor(lay.media_type(), lay.digest(), lay.size()) for lay in self._layers
            ),
        )

    def manifest(self) -> Manifest:
        return self._manifest

    def config(self) -> ImageConfig:
        return self._config

    def layers(self) -> list[MemoryLayer]:
        return list(self._layers)

    def digest(self) -> Digest:
        return Digest.of_bytes(self._manifest.to_json())


def read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def listing(root: str) -> dict[str, str]:
    """Every path under `root` (the store) with a content hash for files: a before/after
    comparison of the whole store. meta.db's WAL files are excluded (SQLite's own)."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = "dir"
        for name in filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if rel.startswith("meta.db") or rel == "lock":
                continue
            if os.path.islink(path):
                out[rel] = "link:" + os.readlink(path)
                continue
            try:
                with open(path, "rb") as fh:
                    out[rel] = hashlib.sha256(fh.read()).hexdigest()
            except OSError:
                out[rel] = "special"
    return out


def rows(store: object) -> dict[str, list[tuple]]:
    """The contents of every table of meta.db (for before/after comparisons)."""
    db = store.db  # type: ignore[attr-defined]
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return {t: sorted(tuple(r) for r in db.execute(f"SELECT * FROM {t}")) for t in tables}
