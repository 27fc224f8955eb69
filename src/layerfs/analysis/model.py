"""The values of an image analysis (what `dive` computes, explained): per-layer changes,
waste items with every wasted copy named, and the image's totals.

All values are frozen; `to_dict()` gives the JSON form (`layerfs dive --json`). Sizes
are bytes of file data as the layer tars hold them (dive's measure: a layer's size is
the sum of its members' data sizes; directories, links and whiteouts count 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ADDED, MODIFIED, DELETED = "A", "M", "D"
OVERWRITTEN, REMOVED = "overwritten", "deleted"


@dataclass(frozen=True, slots=True)
class FileChange:
    """One path a layer changed: `kind` "A" (added), "M" (replaced something visible
    below) or "D" (a whiteout; `size` is then the bytes it hid)."""

    kind: str
    path: str
    size: int
    is_dir: bool


@dataclass(frozen=True)
class LayerAnalysis:
    """One layer, base first: `size` is dive's (sum of member data sizes), `tar_size` the
    uncompressed tar's bytes; `created_by` the history instruction that made it;
    `wasted_bytes` the bytes of this layer that later layers hide (overwrite or delete)."""

    index: int
    digest: str
    diff_id: str
    size: int
    tar_size: int
    created_by: str
    changes: tuple[FileChange, ...]
    wasted_bytes: int = 0

    def counts(self) -> dict[str, int]:
        """How many changes of each kind ("A", "M", "D")."""
        out = {ADDED: 0, MODIFIED: 0, DELETED: 0}
        for c in self.changes:
            out[c.kind] += 1
        return out


@dataclass(frozen=True, slots=True)
class WasteCopy:
    """A copy of a path that ships in layer `layer_index` but is never visible: a later
    layer `hidden_by` (made by `hidden_by_created_by`) overwrote or deleted it."""

    layer_index: int
    size: int
    created_by: str
    kind: str
    hidden_by: int
    hidden_by_created_by: str


@dataclass(frozen=True)
class WasteItem:
    """One path with wasted copies: `total_bytes` is the sum of the hidden copies (the
    visible copy, if any, is not waste); `explanation` says which layers and instructions."""

    path: str
    total_bytes: int
    copies: tuple[WasteCopy, ...]
    explanation: str


@dataclass(frozen=True)
class ImageAnalysis:
    """Where an image's bytes go.

    `total_size` = sum of layer sizes; `user_size` = all layers but the base;
    `wasted_bytes` = sum of `waste` (each wasted copy once); `user_wasted_percent` =
    100 * wasted / user_size (0..100; dive's JSON gives the same ratio as a fraction);
    `efficiency` = 1 - wasted / total (0..1; 1 for an empty image). `waste` is sorted
    by bytes, largest first.
    """

    name: str | None
    layers: tuple[LayerAnalysis, ...]
    total_size: int
    user_size: int
    wasted_bytes: int
    user_wasted_percent: float
    efficiency: float
    waste: tuple[WasteItem, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "total_size": self.total_size,
            "user_size": self.user_size,
            "wasted_bytes": self.wasted_bytes,
            "user_wasted_percent": self.user_wasted_percent,
            "efficiency": self.efficiency,
            "layers": [_layer_dict(layer) for layer in self.layers],
            "waste": [asdict(item) for item in self.waste],
        }


def _layer_dict(layer: LayerAnalysis) -> dict[str, Any]:
    out = asdict(layer)
    out["changes"] = [asdict(c) for c in layer.changes]
    out["counts"] = layer.counts()
    return out
