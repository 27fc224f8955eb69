"""Proof that nothing was written: every entry under a tree with mode, size and mtime."""

from __future__ import annotations

import os
from pathlib import Path


def tree_state(root: Path | str) -> list[tuple[str, int, int, int]]:
    """Sorted (path, mode, size, mtime_ns) of every entry below `root` (not following links)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            out.append((os.path.join(dirpath, name), st.st_mode, st.st_size, st.st_mtime_ns))
    return sorted(out)
