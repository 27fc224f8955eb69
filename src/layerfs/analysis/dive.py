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

from collections import defaultdict

from layerfs.analysis.layers import LayerStep, layer_steps, list_layers
from layerfs.analysis.merge import Hidden, MergedTree
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


def analyze(image: Image, *, name: str | None = None) -> ImageAnalysis:
    """The analysis of `image` (every layer tar read once; nothing is written)."""
    steps = layer_steps(image)
    listings = list_layers([s.layer for s in steps])
    return analyze_listings(steps, listings, name=name)


class _Walk:
    """Applies layers one by one, recording each layer's changes and every hidden copy."""

    def __init__(self, steps: list[LayerStep]) -> None:
        self.steps = steps
        self.tree = MergedTree()
        self.hidden: dict[str, list[WasteCopy]] = defaultdict(list)
        self.layer_waste = [0] * len(steps)

    def lose(self, lost: list[Hidden], by: int, overwritten: str | None = None) -> int:
        """Record the files in `lost` as wasted copies hidden by layer `by`; their bytes."""
        total = 0
        for path, layer, e in lost:
            if e.kind == DIR or e.size <= 0:
                continue
            kind = OVERWRITTEN if path == overwritten else REMOVED
            self.hidden[path].append(WasteCopy(layer, e.size, self.steps[layer].created_by,
                                               kind, by, self.steps[by].created_by))
            self.layer_waste[layer] += e.size
            total += e.size
        return total

    def layer(self, i: int, listing: TarListing) -> tuple[FileChange, ...]:
        """Apply layer `i`; its changes (entries first, then its whiteouts as "D")."""
        changes: list[FileChange] = []
        markers = []
        for e in listing.entries:
            if e.kind in (WHITEOUT, OPAQUE):
                markers.append(e)
                continue
            kind = MODIFIED if e.path in self.tree.visible else ADDED
            self.lose(self.tree.replace(i, e), i, e.path)
            changes.append(FileChange(kind, e.path, e.size, e.kind == DIR))
        for e in markers:
            was = self.tree.visible.get(e.path)
            gone = self.lose(self.tree.hide(e.path, i, self_too=e.kind == WHITEOUT), i)
            if e.kind == WHITEOUT:
                changes.append(FileChange(DELETED, e.path, gone,
                                          was is not None and was[1].kind == DIR))
        return tuple(changes)


def analyze_listings(steps: list[LayerStep], listings: list[TarListing], *,
                     name: str | None = None) -> ImageAnalysis:
    """The analysis from layer listings already read (`steps[i]` made `listings[i]`)."""
    walk = _Walk(steps)
    layer_changes = [walk.layer(i, listing) for i, listing in enumerate(listings)]
    layers = tuple(
        LayerAnalysis(s.index, str(s.layer.digest()), str(s.layer.diff_id()),
                      lst.content_size, lst.tar_size, s.created_by, ch,
                      walk.layer_waste[s.index])
        for s, lst, ch in zip(steps, listings, layer_changes, strict=True)
    )
    waste = sorted((_item(p, tuple(c)) for p, c in walk.hidden.items()),
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
