"""The build cache: step keys, and what each key produced (kept in the store's meta.db).

A step's key is the sha256 of: the parent step's key (so the whole chain: base image,
every earlier instruction), the instruction normalized (variables expanded, flags
included), the build args in scope (RUN only: they are its environment), and for
COPY/ADD the digest of every selected file's destination path, type, mode, owner and
content (not mtime, after .dockerignore).

Rows: the store's `build_cache` table (key → top chain id + config; it keeps the layers
alive against gc, see store/gc.py) and this module's `build_steps` table with the
inputs of each key (for `--explain`) and its layers (chain id, diff_id, blob digest,
size, media type). Blobs are not protected by the cache: a hit whose blob was collected
is rebuilt from the layer dir (see output.py).
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from layerfs.digest import Digest
from layerfs.oci.config import ImageConfig

if TYPE_CHECKING:
    from layerfs.store.store import Store

_DDL = """
CREATE TABLE IF NOT EXISTS build_steps (
    key TEXT PRIMARY KEY,           -- the step's cache key (same as build_cache.key)
    parent TEXT NOT NULL,           -- the parent step's key
    kind TEXT NOT NULL,             -- the instruction keyword
    text TEXT NOT NULL,             -- the normalized instruction
    scope TEXT NOT NULL,            -- JSON {name: value} of args in scope (RUN)
    files BLOB,                     -- zlib(JSON {dest path: "kind mode uid:gid content"})
    layers TEXT NOT NULL,           -- JSON list of the image's layers after the step
    created REAL NOT NULL,
    last_used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS build_steps_parent ON build_steps(parent, last_used);
"""


@dataclass(frozen=True)
class StepInputs:
    """What a step's key is made of."""

    parent: str
    kind: str
    text: str
    scope: Mapping[str, str] = field(default_factory=dict, hash=False)
    files: Mapping[str, str] = field(default_factory=dict, hash=False)

    def key(self) -> str:
        blob = json.dumps(
            [self.parent, self.kind, self.text, sorted(self.scope.items()),
             sorted(self.files.items())],
            separators=(",", ":"),
        )
        return Digest.of_bytes(blob.encode()).hex


@dataclass(frozen=True)
class LayerRef:
    """One layer of an image being built (base first in a result)."""

    chain_id: Digest
    diff_id: Digest
    blob: Digest
    blob_size: int
    media_type: str

    def to_dict(self) -> dict[str, object]:
        return {"chain_id": str(self.chain_id), "diff_id": str(self.diff_id),
                "blob": str(self.blob), "blob_size": self.blob_size,
                "media_type": self.media_type}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> LayerRef:
        return cls(Digest.parse(str(d["chain_id"])), Digest.parse(str(d["diff_id"])),
                   Digest.parse(str(d["blob"])), int(str(d["blob_size"])),
                   str(d["media_type"]))


@dataclass(frozen=True)
class StepResult:
    """The image state after a step: its config and its layers (base first)."""

    config: ImageConfig
    layers: tuple[LayerRef, ...]


class BuildCache:
    """The cache of one store. `enabled` False (`--no-cache`): lookups miss, results are
    still recorded (as docker does)."""

    def __init__(self, store: Store, *, enabled: bool = True) -> None:
        self.store = store
        self.enabled = enabled
        for stmt in _DDL.split(";"):
            if stmt.strip():
                store.db.execute(stmt)
        # rows whose build_cache entry was pruned (`system prune`, builder prune) go too
        store.db.execute("DELETE FROM build_steps WHERE key NOT IN (SELECT key FROM build_cache)")

    def lookup(self, key: str) -> StepResult | None:
        """The result recorded for `key` if its layers are all still in the store."""
        if not self.enabled:
            return None
        row = self.store.db.execute(
            "SELECT s.layers, c.config FROM build_steps s JOIN build_cache c ON c.key = s.key"
            " WHERE s.key = ?", (key,)).fetchone()
        if row is None:
            return None
        layers = tuple(LayerRef.from_dict(d) for d in json.loads(row[0]))
        if not all(self.store.has_layer(layer.chain_id) for layer in layers):
            return None
        self.store.db.execute("UPDATE build_steps SET last_used = ? WHERE key = ?",
                              (time.time(), key))
        return StepResult(ImageConfig.parse(row[1].encode()), layers)

    def record(self, inputs: StepInputs, result: StepResult) -> None:
        """Remember what `inputs` produced (replaces an earlier row for the same key)."""
        key = inputs.key()
        now = time.time()
        top = str(result.layers[-1].chain_id) if result.layers else None
        files = zlib.compress(json.dumps(dict(inputs.files)).encode()) if inputs.files else None
        with self.store.lock, self.store.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO build_cache(key, chain_id, config, created, last_used)"
                " VALUES (?, ?, ?, ?, ?)",
                (key, top, result.config.to_json().decode(), now, now))
            db.execute(
                "INSERT OR REPLACE INTO build_steps(key, parent, kind, text, scope, files,"
                " layers, created, last_used) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, inputs.parent, inputs.kind, inputs.text, json.dumps(dict(inputs.scope)),
                 files, json.dumps([layer.to_dict() for layer in result.layers]), now, now))

    def earlier(self, parent: str, limit: int = 20) -> list[StepInputs]:
        """Steps recorded on the same parent key, most recently used first (what an
        explanation compares a miss with). Rows whose build_cache entry was pruned
        still count: they say what the step was."""
        rows = self.store.db.execute(
            "SELECT parent, kind, text, scope, files FROM build_steps WHERE parent = ?"
            " ORDER BY last_used DESC LIMIT ?", (parent, limit)).fetchall()
        return [
            StepInputs(r[0], r[1], r[2], json.loads(r[3]),
                       json.loads(zlib.decompress(r[4])) if r[4] else {})
            for r in rows
        ]
