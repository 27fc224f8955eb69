"""`trace_image`: one path through an image's layers, with the instruction that put it
there or hid it.

An image in the store is traced over its unpacked layer dirs by the union engine
(`union.trace_layers`: the kernel's lookup, symlinked parents resolved, redirects); any
other image from its layer tars' listings (names only: a symlinked parent is not
followed there, which the row notes say when the path is not found).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import asdict, dataclass
from typing import Any

from layerfs.analysis.layers import LayerStep, layer_steps, list_layers
from layerfs.analysis.merge import MergedTree
from layerfs.analysis.tarlist import OPAQUE, WHITEOUT, TarListing
from layerfs.oci.image import Image
from layerfs.union.trace import trace_layers


@dataclass(frozen=True)
class ImageTraceRow:
    """What layer `index` (0 = base) holds at the path: `state` as in `union.TraceRow`
    ("file", "dir", "symlink", "whiteout", "opaque dir", "absent", "hidden", ...);
    `visible` when it is (part of) what the image shows; `note` why it is hidden or what
    it hides; `created_by` the instruction that made the layer."""

    index: int
    created_by: str
    state: str
    size: int | None
    visible: bool
    note: str


@dataclass(frozen=True)
class ImageTrace:
    """The traced path, one row per layer top first, the winning layer (None: the image
    does not show the path), how it was traced ("layer dirs" or "tar listings")."""

    path: str
    rows: tuple[ImageTraceRow, ...]
    winner: int | None
    method: str
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "winner": self.winner, "method": self.method,
                "summary": self.summary, "rows": [asdict(r) for r in self.rows]}


def trace_image(image: Image, path: str) -> ImageTrace:
    """Trace `path` (absolute inside the image) through `image`'s layers."""
    path = posixpath.normpath("/" + path.lstrip("/"))
    steps = layer_steps(image)
    lowerdirs = getattr(image, "lowerdirs", None)
    if callable(lowerdirs):
        return _from_dirs(steps, lowerdirs(), path)
    return _from_listings(steps, list_layers([s.layer for s in steps]), path)


def _from_dirs(steps: list[LayerStep], lowerdirs: list[str], path: str) -> ImageTrace:
    t = trace_layers(lowerdirs, None, path)
    n = len(lowerdirs)
    rows = tuple(
        ImageTraceRow(n - r.index, steps[n - r.index].created_by, r.state, r.size, r.visible,
                      _relabel(r.reason or (f"redirect to {r.redirect}" if r.redirect else ""),
                               n))
        for r in t.rows if r.index > 0
    )
    winner = None if t.winner is None else n - t.winner
    summary = _relabel(t.summary.split("; the union is read-only")[0], n)
    named = winner if winner is not None else next(
        (int(m.group(1)) for m in [re.search(r"layer (\d+)", summary)] if m), None)
    if named is not None:
        summary += f"; layer {named} is {_short(steps[named].created_by)!r}"
    return ImageTrace(t.path, rows, winner, "layer dirs", summary)


def _relabel(text: str, n: int) -> str:
    """The union's words ("lowerdir K", "the union") in the image's ("layer n-K")."""
    text = re.sub(r"lowerdir (\d+)", lambda m: f"layer {n - int(m.group(1))}", text)
    return text.replace("the union", "the image")


def _from_listings(steps: list[LayerStep], listings: list[TarListing], path: str
                   ) -> ImageTrace:
    tree = MergedTree()
    own: list[tuple[str, int | None, str]] = []
    hidden_by: dict[int, int] = {}
    for i, listing in enumerate(listings):
        state: tuple[str, int | None, str] = ("absent", None, "")
        for e in listing.entries:
            if e.path == path:
                state = ("opaque dir" if e.kind == OPAQUE else e.kind, e.size or None,
                         "deletes the path in lower layers" if e.kind == WHITEOUT else "")
            elif e.kind == WHITEOUT and path.startswith(e.path + "/"):
                state = ("whiteout", None, f"deletes the parent {e.path} in lower layers")
            elif e.kind == OPAQUE and path.startswith(e.path.rstrip("/") + "/") and (
                    state[0] == "absent"):
                state = (state[0], state[1], f"opaque parent {e.path} hides lower layers")
        own.append(state)
        for p, layer, _ in tree.apply(i, listing.entries):
            if p == path:
                hidden_by[layer] = i
    got = tree.visible.get(path)
    winner = got[0] if got else None
    merged_dir = winner is not None and own[winner][0] == "dir"
    rows = []
    for i in reversed(range(len(steps))):
        state, size, note = own[i]
        if state not in ("absent", "whiteout") and i in hidden_by:
            note = f"hidden by layer {hidden_by[i]} ({_short(steps[hidden_by[i]].created_by)})"
            state = "hidden"
        visible = i == winner or (merged_dir and state == "dir")
        rows.append(ImageTraceRow(i, steps[i].created_by, state, size, visible, note))
    return ImageTrace(path, tuple(rows), winner, "tar listings",
                      _summary(path, winner, steps, rows))


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _summary(path: str, winner: int | None, steps: list[LayerStep],
             rows: list[ImageTraceRow]) -> str:
    if winner is not None:
        return f"{path}: shown from layer {winner} ({_short(steps[winner].created_by)})"
    for r in rows:  # top first: the last layer that deleted it
        if r.state == "whiteout" or "opaque parent" in r.note:
            return f"{path}: not in the image: deleted by layer {r.index} ({_short(r.created_by)})"
    return f"{path}: not in the image: no layer has it"
