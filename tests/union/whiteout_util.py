"""Helpers shared by the whiteout tests (test_whiteouts*.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="mknod of 0/0 and trusted.* xattrs need root")


def xattrs(path: Path) -> dict[str, bytes]:
    """Every xattr of `path` (not followed), name → value."""
    names = os.listxattr(path, follow_symlinks=False)
    return {n: os.getxattr(path, n, follow_symlinks=False) for n in names}


def touch(path: Path, data: bytes = b"") -> Path:
    """Write `data` to `path`; returns `path`."""
    path.write_bytes(data)
    return path
