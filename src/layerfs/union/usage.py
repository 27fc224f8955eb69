"""Sizes of layers and of the changes an upper layer makes.

Two measures, as docker and du give them:

- `bytes`: apparent size, the sum of ``st_size`` of every non-directory, a hard-linked
  inode counted once. This is docker's ``SizeRw`` for an upper dir (overlay2 `DiffSize`
  is `directory.Size(diff)`), what ``docker ps -s`` prints.
- `disk_bytes`: space used, ``st_blocks * 512`` of every entry including directories, a
  hard-linked inode counted once (``du -s --block-size=1``).

Everything here only reads.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from layerfs.union.changes import Change, changes
from layerfs.union.layerstack import make_layers, resolve
from layerfs.union.whiteouts import OCI_OPAQUE, is_device_whiteout, is_internal_name


@dataclass(frozen=True)
class LayerUsage:
    """What one layer directory holds: entry counts and both sizes (see module doc)."""

    path: str
    bytes: int
    disk_bytes: int
    files: int
    dirs: int
    symlinks: int
    whiteouts: int
    other: int

    @property
    def entries(self) -> int:
        """Every object below the root (the root itself not counted)."""
        return self.files + self.dirs + self.symlinks + self.whiteouts + self.other


def layer_usage(path: str) -> LayerUsage:
    """Walk one layer directory (not following symlinks, not crossing into other mounts).

    Device whiteouts and OCI ``.wh.NAME`` files count as `whiteouts`, an OCI opaque marker
    as `other`. Raises OSError if `path` is unreadable.
    """
    root_st = os.lstat(path)
    seen: set[tuple[int, int]] = set()
    counts = {"files": 0, "dirs": 0, "symlinks": 0, "whiteouts": 0, "other": 0}
    size = 0
    disk = root_st.st_blocks * 512
    stack = [path]
    while stack:
        with os.scandir(stack.pop()) as it:
            for de in it:
                st = de.stat(follow_symlinks=False)
                first = (st.st_dev, st.st_ino) not in seen
                if st.st_nlink > 1:
                    seen.add((st.st_dev, st.st_ino))
                if first:
                    disk += st.st_blocks * 512
                mode = st.st_mode
                if stat.S_ISDIR(mode):
                    counts["dirs"] += 1
                    if st.st_dev == root_st.st_dev:
                        stack.append(de.path)
                    continue
                if first:
                    size += st.st_size
                if is_internal_name(de.name):  # OCI markers: .wh.NAME, .wh..wh..opq
                    counts["whiteouts" if de.name != OCI_OPAQUE else "other"] += 1
                elif stat.S_ISREG(mode):
                    counts["files"] += 1
                elif stat.S_ISLNK(mode):
                    counts["symlinks"] += 1
                elif is_device_whiteout(st):
                    counts["whiteouts"] += 1
                else:
                    counts["other"] += 1
    return LayerUsage(path, size, disk, **counts)


@dataclass(frozen=True)
class UpperSummary:
    """The upper layer of a union in numbers: docker-diff counts and sizes.

    `added`/`changed`/`deleted` count the lines of `changes()` (docker rules, so changed
    parent directories count as changed); `bytes`/`disk_bytes` are the upper dir's sizes
    (`bytes` is docker's SizeRw); `changed_bytes` is docker's `ChangesSize` (sizes of the
    added and changed non-directories as the union shows them).
    """

    added: int
    changed: int
    deleted: int
    bytes: int
    disk_bytes: int
    changed_bytes: int
    usage: LayerUsage


def upper_summary(
    upperdir: str, lowerdirs: Sequence[str], *, rules: str = "docker"
) -> UpperSummary:
    """Summarise what `upperdir` changes over `lowerdirs` (top first). Read-only."""
    found = changes(upperdir, lowerdirs, rules=rules)
    kinds = [c.kind for c in found]
    usage = layer_usage(upperdir)
    sized = change_sizes(upperdir, lowerdirs, found)
    return UpperSummary(
        added=kinds.count("A"),
        changed=kinds.count("C"),
        deleted=kinds.count("D"),
        bytes=usage.bytes,
        disk_bytes=usage.disk_bytes,
        changed_bytes=sum(size for _, size in sized),
        usage=usage,
    )


def change_sizes(
    upperdir: str, lowerdirs: Sequence[str], found: Sequence[Change] | None = None
) -> list[tuple[Change, int]]:
    """Each change with its size in bytes (docker's `ChangesSize`, per change).

    An A or C of a non-directory has the ``st_size`` of the object the union shows (a
    hard-linked inode counted once); directories and deletions have 0. `found` defaults
    to `changes(upperdir, lowerdirs)`.
    """
    if found is None:
        found = changes(upperdir, lowerdirs)
    layers = make_layers(lowerdirs, upperdir)
    seen: set[tuple[int, int]] = set()
    out = []
    for change in found:
        size = 0
        if change.kind != "D":
            step = resolve(layers, change.path).final
            st = step.sources[0].entry.st if step.found else None
            if st is not None and not stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink <= 1 or key not in seen:
                    size = st.st_size
                    seen.add(key)
        out.append((change, size))
    return out
