"""The overlay engine: OverlayFS semantics over plain directories (see docs/UNION-API.md).

Public names are imported lazily so that `layerfs.union.whiteouts` can be used on its own.
"""

from __future__ import annotations

import importlib
from typing import Any

from layerfs.union.whiteouts import EntryKind, WhiteoutFormat

_LAZY = {
    "UnionView": "layerfs.union.view",
    "Node": "layerfs.union.view",
    "DirEntry": "layerfs.union.view",
    "changes": "layerfs.union.changes",
    "Change": "layerfs.union.changes",
    "trace": "layerfs.union.trace",
    "trace_layers": "layerfs.union.trace",
    "Trace": "layerfs.union.trace",
    "TraceRow": "layerfs.union.trace",
}

__all__ = ["EntryKind", "WhiteoutFormat", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'layerfs.union' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
