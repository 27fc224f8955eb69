"""Where a store lives and the names inside it (DESIGN.md "Store layout").

The root is `$LAYERFS_ROOT`, else `~/.local/share/layerfs`. `StorePaths` is a value: it
names directories and creates nothing; `StorePaths.ensure()` creates the skeleton.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from layerfs.digest import Digest
from layerfs.errors import InvalidInput

ENV_ROOT = "LAYERFS_ROOT"

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def default_root() -> str:
    """`$LAYERFS_ROOT` if set and non-empty, else `~/.local/share/layerfs` (absolute)."""
    env = os.environ.get(ENV_ROOT)
    if env:
        return os.path.abspath(env)
    return os.path.join(os.path.expanduser("~"), ".local", "share", "layerfs")


def check_key(key: str, what: str = "snapshot key") -> str:
    """Return `key` if it is a safe directory name (letters, digits, `_.-`, ≤ 128)."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise InvalidInput(f"invalid {what} {key!r}: use letters, digits, '_', '.', '-'")
    return key


@dataclass(frozen=True)
class StorePaths:
    """The fixed names under one store root."""

    root: str

    @property
    def blobs(self) -> str:
        return os.path.join(self.root, "blobs", "sha256")

    @property
    def layers(self) -> str:
        return os.path.join(self.root, "layers")

    @property
    def containers(self) -> str:
        return os.path.join(self.root, "containers")

    @property
    def volumes(self) -> str:
        return os.path.join(self.root, "volumes")

    @property
    def ingest(self) -> str:
        return os.path.join(self.root, "ingest")

    @property
    def meta_db(self) -> str:
        return os.path.join(self.root, "meta.db")

    @property
    def lock_file(self) -> str:
        return os.path.join(self.root, "lock")

    def blob(self, digest: Digest) -> str:
        """blobs/sha256/<hex>."""
        return os.path.join(self.blobs, digest.hex)

    def layer(self, chain_id: Digest) -> str:
        """layers/<chain-id hex> (holds `diff/`)."""
        return os.path.join(self.layers, chain_id.hex)

    def layer_diff(self, chain_id: Digest) -> str:
        """layers/<chain-id hex>/diff: the unpacked layer in overlay on-disk form."""
        return os.path.join(self.layer(chain_id), "diff")

    def snapshot(self, key: str) -> str:
        """containers/<key>: an active snapshot (upper/, work/; containers add more)."""
        return os.path.join(self.containers, check_key(key))

    def ensure(self) -> None:
        """Create the root and its directories (idempotent, mode 0700 for the root)."""
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        for d in (self.blobs, self.layers, self.containers, self.volumes, self.ingest):
            os.makedirs(d, mode=0o700, exist_ok=True)
