"""Merged directory listings (the kernel's ``ovl_dir_read_merged``)."""

from __future__ import annotations

from dataclasses import dataclass

from layerfs.union.layerstack import Step
from layerfs.union.whiteouts import EntryKind, is_internal_name, scan_dir


@dataclass(frozen=True)
class DirEntry:
    """One name of a merged directory and its kind (d_type) as the union shows it."""

    name: str
    kind: EntryKind


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
