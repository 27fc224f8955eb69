"""Layer listings applied one on another as the kernel's overlay would: the merged tree.

A whiteout or an opaque directory hides entries of *lower* layers only (OCI image-spec
layer.md; OVERLAY-SEMANTICS.md), so entries of the layer being applied are never hidden
by its own markers, whatever their order in the tar.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from layerfs.analysis.tarlist import DIR, OPAQUE, WHITEOUT, TarEntry, TarListing

Hidden = tuple[str, int, TarEntry]  # (path, layer index, entry)


class MergedTree:
    """The visible entries (path -> (layer index, entry)) and each directory's children
    (for hiding a subtree). Stale names may stay in `children`; `visible` decides."""

    def __init__(self) -> None:
        self.visible: dict[str, tuple[int, TarEntry]] = {}
        self.children: dict[str, set[str]] = defaultdict(set)

    def put(self, layer: int, entry: TarEntry) -> None:
        path = entry.path
        self.visible[path] = (layer, entry)
        while path != "/":
            parent = path[: path.rfind("/")] or "/"  # paths are normalized and absolute
            kids = self.children[parent]
            if path in kids:
                break
            kids.add(path)
            path = parent

    def hide(self, path: str, below: int, *, self_too: bool) -> list[Hidden]:
        """Remove the entries of layers < `below` at (if `self_too`) and under `path`;
        returns what was removed."""
        out: list[Hidden] = []
        stack = [path]
        while stack:
            p = stack.pop()
            stack.extend(self.children.get(p, ()))
            if p == path and not self_too:
                continue
            got = self.visible.get(p)
            if got is not None and got[0] < below:
                del self.visible[p]
                out.append((p, got[0], got[1]))
        return out

    def apply(self, layer: int, entries: Iterable[TarEntry]) -> list[Hidden]:
        """Apply one layer; returns every lower entry it hid (overwritten or deleted)."""
        lost: list[Hidden] = []
        markers = []
        for e in entries:
            if e.kind in (WHITEOUT, OPAQUE):
                markers.append(e)
                continue
            lost.extend(self.replace(layer, e))
        for e in markers:
            lost.extend(self.hide(e.path, layer, self_too=e.kind == WHITEOUT))
        return lost

    def replace(self, layer: int, e: TarEntry) -> list[Hidden]:
        """Put `e`, returning what it hid: the entry it replaced, and the subtree of a
        directory replaced by a non-directory."""
        lost: list[Hidden] = []
        prev = self.visible.get(e.path)
        if prev is not None:
            if prev[1].kind == DIR and e.kind != DIR:
                lost.extend(self.hide(e.path, layer + 1, self_too=False))
            if prev[1].kind != DIR or e.kind != DIR:
                lost.append((e.path, prev[0], prev[1]))
        self.put(layer, e)
        return lost


def merged(listings: Iterable[TarListing]) -> MergedTree:
    """The merged tree of layer listings, base first."""
    tree = MergedTree()
    for i, listing in enumerate(listings):
        tree.apply(i, listing.entries)
    return tree
