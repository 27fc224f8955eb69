"""meta.db: the SQLite schema of a store and how to open it (WAL, foreign keys).

Rows are committed only after the files they name are in place (blobs renamed into
`blobs/`, layer dirs into `layers/`), so a row never names something half-written.
Leases (containerd's word) record what an ingest in progress has put in place or uses;
recovery rolls back the leases of dead owners.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS layers (
    chain_id TEXT PRIMARY KEY,
    diff_id TEXT NOT NULL,
    parent TEXT REFERENCES layers(chain_id),
    size INTEGER NOT NULL,          -- bytes of the uncompressed tar (the diff_id's content)
    tree_digest TEXT NOT NULL,      -- digest of archive.generate.write_tar of the diff dir
    whiteouts TEXT NOT NULL,        -- WhiteoutFormat the dir was written in
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,            -- digest of the config blob (docker's image ID)
    manifest_digest TEXT NOT NULL,
    manifest_media_type TEXT NOT NULL,
    top_chain TEXT REFERENCES layers(chain_id),
    created TEXT,                   -- the config's "created"
    size INTEGER NOT NULL,          -- sum of the layers' uncompressed sizes
    added REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,           -- 0 = base
    chain_id TEXT NOT NULL REFERENCES layers(chain_id),
    blob_digest TEXT NOT NULL,
    blob_size INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    PRIMARY KEY (image_id, idx)
);
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);
CREATE INDEX IF NOT EXISTS image_layers_blob ON image_layers(blob_digest);
CREATE TABLE IF NOT EXISTS tags (
    name TEXT PRIMARY KEY,          -- "repository:tag"
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS snapshots (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('active', 'view', 'committed')),
    parent TEXT REFERENCES layers(chain_id),
    chain_id TEXT REFERENCES layers(chain_id),   -- committed: the layer it names
    labels TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    id TEXT PRIMARY KEY,            -- the ingest dir name; its owner lock says if alive
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS lease_resources (
    lease TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('blob', 'layer')),
    ref TEXT NOT NULL,
    PRIMARY KEY (lease, kind, ref)
);
CREATE TABLE IF NOT EXISTS build_cache (
    key TEXT PRIMARY KEY,           -- a build step's cache key
    chain_id TEXT REFERENCES layers(chain_id),
    config TEXT,                    -- the image config after the step (JSON)
    created REAL NOT NULL,
    last_used REAL NOT NULL
);
CREATE VIEW IF NOT EXISTS layer_refcounts AS
SELECT l.chain_id AS chain_id,
       (SELECT COUNT(*) FROM image_layers il WHERE il.chain_id = l.chain_id)
     + (SELECT COUNT(*) FROM snapshots s WHERE s.parent = l.chain_id OR s.chain_id = l.chain_id)
     + (SELECT COUNT(*) FROM layers c WHERE c.parent = l.chain_id)
     + (SELECT COUNT(*) FROM build_cache b WHERE b.chain_id = l.chain_id)
     + (SELECT COUNT(*) FROM lease_resources r WHERE r.kind = 'layer' AND r.ref = l.chain_id)
       AS refcount
FROM layers l;
"""


def connect(path: str) -> sqlite3.Connection:
    """Open (creating if needed) meta.db in WAL mode with foreign keys on.

    The connection is in autocommit mode (`isolation_level=None`); callers group writes
    with `BEGIN IMMEDIATE` ... `COMMIT` (see `Meta.transaction`).
    """
    conn = sqlite3.connect(path, timeout=60.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=60000")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        for stmt in _statements(_DDL):
            conn.execute(stmt)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
    return conn


def _statements(script: str) -> list[str]:
    """Split the DDL into statements (the DDL has no ';' inside strings)."""
    out: list[str] = []
    buf: list[str] = []
    for line in script.splitlines():
        code = line.split("--", 1)[0]
        buf.append(code)
        if code.rstrip().endswith(";"):
            stmt = "\n".join(buf).strip()
            if stmt.strip(";").strip():
                out.append(stmt)
            buf = []
    return out
