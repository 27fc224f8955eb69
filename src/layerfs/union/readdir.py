"""Merged directory listings (the kernel's ``ovl_dir_read_merged``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from layerfs.union.layerstack import Step
from layerfs.union.whiteouts import ORIGIN, EntryKind, is_internal_name, overlay_xattr, scan_dir


@dataclass(frozen=True)
class DirEntry:
    """One name of a merged directory and its kind (d_type) as the union shows it."""

    name: str
    kind: EntryKind


def listing(step: Step) -> list[DirEntry]:
    """What readdir shows for the directory `step` (the kernel's ``ovl_iterate``).

    A directory made of one real directory that was never copied up (no
    ``overlay.origin``) is "real" to the kernel: it is listed as it is on disk, so a
    whiteout inside it shows up as a character device entry (that lstat then reports
    absent). Every other directory is merged (`merged_entries`).
    """
    if len(step.sources) == 1 and overlay_xattr(step.sources[0].realpath, ORIGIN) is None:
        return _real_entries(step.sources[0].realpath)
    return merged_entries(step)


def _real_entries(dirpath: str) -> list[DirEntry]:
    out = []
    with os.scandir(dirpath) as it:
        for de in it:
            if is_internal_name(de.name):
                continue
            if de.is_dir(follow_symlinks=False):
                kind = EntryKind.DIR
            elif de.is_symlink():
                kind = EntryKind.SYMLINK
            elif de.is_file(follow_symlinks=False):
                kind = EntryKind.FILE
            else:
                kind = EntryKind.SPECIAL
            out.append(DirEntry(de.name, kind))
    return out


def merged_entries(step: Step) -> list[DirEntry]:
    """The names of the directory `step`: upper first, then lowers (top first).

    A name appears once, with the kind of its topmost object; names whited out by a
    higher layer and OCI marker names are left out. `step.sources` already stops at an
    opaque directory and follows redirects, so only the real directories that make up
    the merged directory are read.
    """
    seen: dict[str, EntryKind] = {}
    hidden: set[str] = set()
    for src in step.sources:
        layer_dir = scan_dir(src.realpath)
        for name, kind in layer_dir.entries.items():
            if name not in seen and name not in hidden and not is_internal_name(name):
                seen[name] = kind
        hidden.update(layer_dir.whiteouts)
    return [DirEntry(name, kind) for name, kind in seen.items()]


def is_empty(step: Step) -> bool:
    """True if the merged directory shows no names (whiteouts alone do not count)."""
    return not merged_entries(step)
