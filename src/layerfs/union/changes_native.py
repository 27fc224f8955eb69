"""The changes podman prints: containers/storage's native `OverlayChanges`.

podman (containers/storage) still computes `podman diff` by walking the upper dir alone,
in lexical order, with these rules (pkg/archive/changes.go and changes_linux.go):

- a whiteout is D;
- an opaque directory is D when the same path exists (and is not a whiteout) in a lower
  layer whose ancestors of it are not whited out; its entries are then walked as usual;
- anything else is A, unless a lower layer has the path (``stat``, which follows
  symlinks): then C, except that a directory whose size, mode and mtime equal the lower
  one's is skipped (a plain copy-up of a parent); a lower layer in which the path or one
  of its ancestors is a whiteout ends the search (A);
- for an A or a D, every ancestor not listed yet is listed as C.

Whiteouts of every on-disk form are recognised (containers/storage knows only 0/0
devices); OCI marker files never appear in the output.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterator, Sequence

from layerfs.union.changes import Change, same_fs_time
from layerfs.union.whiteouts import (
    OCI_OPAQUE,
    EntryKind,
    LayerEntry,
    classify,
    is_internal_name,
    is_opaque,
    parse_oci_name,
)


def native_changes(upperdir: str, lowerdirs: Sequence[str]) -> list[Change]:
    """The changes in walk order (callers sort). Read-only; OSError if a layer is unreadable."""
    out: list[Change] = []
    listed: set[str] = set()
    for path, entry in _walk(upperdir):
        kind = _kind(upperdir, lowerdirs, path, entry)
        if kind is None:
            continue
        if entry.kind is EntryKind.DIR:
            listed.add(path)
        if kind in ("A", "D"):
            out.extend(_unlisted_ancestors(path, listed))
        out.append(Change(kind, path))
    return out


def _walk(root: str, rel: str = "/") -> Iterator[tuple[str, LayerEntry]]:
    """Pre-order, lexical walk of a layer (filepath.Walk); OCI whiteouts as whiteouts."""
    real = os.path.join(root, rel.lstrip("/"))
    names = sorted(os.listdir(real), key=os.fsencode)
    for name in names:
        if name == OCI_OPAQUE:
            continue
        form, target = parse_oci_name(name)
        if form == "whiteout" and target is not None:
            yield posixpath.join(rel, target), LayerEntry(EntryKind.WHITEOUT)
            continue
        child = posixpath.join(rel, name)
        entry = classify(real, name)
        yield child, entry
        if entry.kind is EntryKind.DIR:
            yield from _walk(root, child)


def _kind(upper: str, lowers: Sequence[str], path: str, entry: LayerEntry) -> str | None:
    if entry.kind is EntryKind.WHITEOUT:
        return "D"
    upper_real = os.path.join(upper, path.lstrip("/"))
    if entry.kind is EntryKind.DIR and is_opaque(upper_real) and _opaque_deletes(lowers, path):
        return "D"
    for lower in lowers:
        if _whiteout_at(lower, path) or any(_whiteout_at(lower, d) for d in _ancestors(path)):
            return "A"
        try:
            low = os.stat(os.path.join(lower, path.lstrip("/")))
        except (FileNotFoundError, NotADirectoryError):
            continue
        new = entry.st
        if new is not None and stat.S_ISDIR(low.st_mode) and stat.S_ISDIR(new.st_mode) and (
            new.st_size == low.st_size
            and new.st_mode == low.st_mode
            and same_fs_time(new.st_mtime_ns, low.st_mtime_ns)
        ):
            return None
        return "C"
    return "A"


def _opaque_deletes(lowers: Sequence[str], path: str) -> bool:
    """containers/storage's `overlayDeletedFile` for an opaque directory."""
    for lower in lowers:
        try:
            st = os.stat(os.path.join(lower, path.lstrip("/")))
        except (FileNotFoundError, NotADirectoryError):
            st = None
        if st is not None:
            return not (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0)
        if any(_whiteout_at(lower, d) for d in _ancestors(path)):
            return False
    return False


def _whiteout_at(layer: str, path: str) -> bool:
    parent, name = posixpath.split(path)
    if is_internal_name(name):
        return False
    return classify(os.path.join(layer, parent.lstrip("/")), name).kind is EntryKind.WHITEOUT


def _ancestors(path: str) -> list[str]:
    """Proper ancestors of `path`, deepest first, the root excluded."""
    out = []
    d = posixpath.dirname(path)
    while d not in ("/", ""):
        out.append(d)
        d = posixpath.dirname(d)
    return out


def _unlisted_ancestors(path: str, listed: set[str]) -> list[Change]:
    new = []
    for d in _ancestors(path):
        if d not in listed:
            listed.add(d)
            new.append(Change("C", d))
    return list(reversed(new))
