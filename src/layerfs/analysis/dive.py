"""`analyze`: what dive shows for an image — per layer its instruction, size and changes,
the wasted bytes and an efficiency score — with each waste item explained.

Waste is counted once per wasted copy: every copy of a path that is not the visible one
(overwritten by a later layer) plus every copy deleted by a later whiteout or opaque
directory. dive 0.13 instead sums every copy of a path seen twice, the visible one
included (dive#684); a file created in one layer and deleted in the next is one copy
of waste here.

Layers are applied as the kernel's overlay would (OVERLAY-SEMANTICS.md): a whiteout or
an opaque directory hides lower layers only, never entries of its own layer.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict

from layerfs.analysis.layers import LayerStep, layer_steps, list_layers
from layerfs.analysis.model import (
    ADDED,
    DELETED,
    MODIFIED,
    OVERWRITTEN,
    REMOVED,
    FileChange,
    ImageAnalysis,
    LayerAnalysis,
    WasteCopy,
    WasteItem,
)
from layerfs.analysis.tarlist import DIR, OPAQUE, WHITEOUT, TarListing
from layerfs.oci.image import Image

__all__ = ["analyze", "analyze_listings"]


class _Merged:
    """The merged tree while layers are applied: path -> (layer, size, is_dir), and the
    children of every directory (for hiding a subtree)."""

    def __init__(self) -> None:
        self.visible: dict[str, tuple[int, int, bool]] = {}
        self.children: dict[str, set[str]] = defaultdict(set)

    def put(self, path: str, layer: int, size: int, is_dir: bool) -> None:
        self.visible[path] = (layer, size, is_dir)
        while path != "/":
            parent = posixpath.dirname(path)
            kids = self.children[parent]
            if path in kids:
                break
            kids.add(path)
            path = parent

    def hide(self, path: str, below: int, *, self_too: bool) -> list[tuple[str, int, int]]:
        """Remove the entries of layers < `below` at and under `path`; returns
        (path, layer, size) of each removed file. Stale names may stay in `children`
        (a lookup in `visible` decides), which keeps hiding linear in the subtree."""
        out: list[tuple[str, int, int]] = []
        stack = [path]
        while stack:
            p = stack.pop()
            stack.extend(self.children.get(p, ()))
            if p == path and not self_too:
                continue
            got = self.visible.get(p)
            if got is not None and got[0] < below:
                del self.visible[p]
                if not got[2]:
                    out.append((p, got[0], got[1]))
        return out


def analyze(image: Image, *, name: str | None = None) -> ImageAnalysis:
    """The analysis of `image` (every layer tar read once; nothing is written)."""
    steps = layer_steps(image)
    listings = list_layers([s.layer for s in steps])
    return analyze_listings(steps, listings, name=name)


def analyze_listings(steps: list[LayerStep], listings: list[TarListing], *,
                     name: str | None = None) -> ImageAnalysis:
    """The analysis from layer listings already read (`steps[i]` made `listings[i]`)."""
    merged = _Merged()
    hidden: dict[str, list[WasteCopy]] = defaultdict(list)
    layer_waste = [0] * len(steps)
    layer_changes: list[tuple[FileChange, ...]] = []

    def lose(path: str, layer: int, size: int, kind: str, by: int) -> None:
        if size > 0:
            hidden[path].append(WasteCopy(layer, size, steps[layer].created_by, kind, by,
                                          steps[by].created_by))
            layer_waste[layer] += size

    for i, listing in enumerate(listings):
        changes: list[FileChange] = []
        deletions = []
        for e in listing.entries:
            if e.kind in (WHITEOUT, OPAQUE):
                deletions.append(e)
                continue
            is_dir = e.kind == DIR
            prev = merged.visible.get(e.path)
            if prev is not None:
                if prev[2] and not is_dir:
                    for p, layer, size in merged.hide(e.path, i, self_too=False):
                        lose(p, layer, size, REMOVED, i)
                elif not prev[2]:
                    lose(e.path, prev[0], prev[1], OVERWRITTEN, i)
            changes.append(FileChange(MODIFIED if prev else ADDED, e.path, e.size, is_dir))
            merged.put(e.path, i, e.size, is_dir)
        for e in deletions:
            was = merged.visible.get(e.path)
            gone = merged.hide(e.path, i, self_too=e.kind == WHITEOUT)
            for p, layer, size in gone:
                lose(p, layer, size, REMOVED, i)
            if e.kind == WHITEOUT:
                changes.append(FileChange(DELETED, e.path, sum(g[2] for g in gone),
                                          bool(was and was[2])))
        layer_changes.append(tuple(changes))

    layers = tuple(
        LayerAnalysis(s.index, str(s.layer.digest()), str(s.layer.diff_id()),
                      lst.content_size, lst.tar_size, s.created_by, ch, layer_waste[s.index])
        for s, lst, ch in zip(steps, listings, layer_changes, strict=True)
    )
    waste = sorted((_item(p, tuple(c)) for p, c in hidden.items()),
                   key=lambda w: (-w.total_bytes, w.path))
    total = sum(la.size for la in layers)
    user = total - (layers[0].size if layers else 0)
    wasted = sum(w.total_bytes for w in waste)
    return ImageAnalysis(
        name=name, layers=layers, total_size=total, user_size=user, wasted_bytes=wasted,
        user_wasted_percent=100.0 * wasted / user if user else 0.0,
        efficiency=1.0 - wasted / total if total else 1.0, waste=tuple(waste),
    )


def _bytes(n: int) -> str:
    return f"{n:,} bytes"


def _step(index: int, created_by: str) -> str:
    return f"layer {index} ({_short(created_by)})" if created_by else f"layer {index}"


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.replace("/bin/sh -c #(nop) ", "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _item(path: str, copies: tuple[WasteCopy, ...]) -> WasteItem:
    total = sum(c.size for c in copies)
    parts = []
    for c in copies:
        verb = "overwrote" if c.kind == OVERWRITTEN else "deleted"
        parts.append(f"{_step(c.layer_index, c.created_by)} wrote {_bytes(c.size)} that "
                     f"{_step(c.hidden_by, c.hidden_by_created_by)} {verb}")
    tail = ("; the hidden bytes still ship in the lower layer"
            if len(copies) == 1 else "; the hidden copies still ship in their layers")
    text = f"{path}: {_bytes(total)} wasted: " + "; ".join(parts) + tail
    return WasteItem(path, total, copies, text)
