"""Image ↔ image and layer ↔ layer diffs at file level: what was added (A), changed (C)
or deleted (D), with the size of each side, the delta and the totals.

Two images are compared by their merged trees (every layer applied, whiteouts honoured);
two layers by their own entries (a whiteout is an entry of kind "whiteout"). An entry
changed when its kind, data (sha256), mode, owner or link target differ; mtimes are not
compared (a rebuild touches them all). The trees are read with `content=True`, so
every file is hashed once.
"""

from __future__ import annotations

import posixpath
from dataclasses import asdict, dataclass
from typing import Any

from layerfs.analysis.layers import list_layer, list_layers
from layerfs.analysis.merge import merged
from layerfs.analysis.tarlist import DIR, OPAQUE, WHITEOUT, TarEntry
from layerfs.oci.image import Image, Layer
from layerfs.union.whiteouts import OCI_OPAQUE, oci_whiteout_name

ADDED, CHANGED, DELETED = "A", "C", "D"


@dataclass(frozen=True, slots=True)
class PathDiff:
    """One path that differs: sizes on each side (0 when absent) and new - old."""

    kind: str
    path: str
    old_size: int
    new_size: int
    is_dir: bool

    @property
    def delta(self) -> int:
        return self.new_size - self.old_size


@dataclass(frozen=True)
class ImageDiff:
    """All differing paths (sorted by path) and the byte totals of each kind."""

    old: str
    new: str
    changes: tuple[PathDiff, ...]

    def total(self, kind: str | None = None) -> int:
        """The sum of deltas (of one kind, or all): > 0 when `new` is bigger."""
        return sum(c.delta for c in self.changes if kind is None or c.kind == kind)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old, "new": self.new,
            "changes": [asdict(c) | {"delta": c.delta} for c in self.changes],
            "added_bytes": self.total(ADDED), "changed_bytes": self.total(CHANGED),
            "deleted_bytes": self.total(DELETED), "total_delta": self.total(),
        }


def _same(a: TarEntry, b: TarEntry) -> bool:
    return a.kind == b.kind and a.size == b.size and a.meta == b.meta


def diff_entries(old: dict[str, TarEntry], new: dict[str, TarEntry], old_name: str,
                 new_name: str) -> ImageDiff:
    """The diff of two path -> entry maps."""
    out = []
    for path in sorted(old.keys() | new.keys()):
        a, b = old.get(path), new.get(path)
        if a is None and b is not None:
            out.append(PathDiff(ADDED, path, 0, b.size, b.kind == DIR))
        elif b is None and a is not None:
            out.append(PathDiff(DELETED, path, a.size, 0, a.kind == DIR))
        elif a is not None and b is not None and not _same(a, b):
            out.append(PathDiff(CHANGED, path, a.size, b.size, b.kind == DIR))
    return ImageDiff(old_name, new_name, tuple(out))


def _tree(image: Image) -> dict[str, TarEntry]:
    tree = merged(list_layers(image.layers(), content=True))
    return {p: e for p, (_, e) in tree.visible.items() if p != "/"}


def diff_images(old: Image, new: Image, old_name: str = "old", new_name: str = "new"
                ) -> ImageDiff:
    """The file-level diff of two images' merged trees."""
    return diff_entries(_tree(old), _tree(new), old_name, new_name)


def _own(layer: Layer) -> dict[str, TarEntry]:
    out = {}
    for e in list_layer(layer, content=True).entries:
        if e.kind == OPAQUE:
            out[posixpath.join(e.path, OCI_OPAQUE)] = e
        elif e.kind == WHITEOUT:
            out[posixpath.join(posixpath.dirname(e.path), oci_whiteout_name(
                posixpath.basename(e.path)))] = e
        elif e.path != "/":
            out[e.path] = e
    return out


def diff_layers(old: Layer, new: Layer) -> ImageDiff:
    """The file-level diff of two layers' own entries (whiteouts and opaque markers
    included, under their `.wh.` names)."""
    return diff_entries(_own(old), _own(new), str(old.digest()), str(new.digest()))
