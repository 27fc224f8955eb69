"""The overlay engine: OverlayFS semantics over plain directories (see docs/UNION-API.md).

The public names are imported eagerly: the submodules `changes` and `trace` share their
names with the functions they define, and an attribute set by importing a submodule would
otherwise shadow the function.
"""

from __future__ import annotations

from layerfs.union.changes import Change, changes
from layerfs.union.trace import Trace, TraceRow, trace, trace_layers
from layerfs.union.view import DirEntry, Node, UnionView
from layerfs.union.whiteouts import EntryKind, WhiteoutFormat

__all__ = [
    "Change",
    "DirEntry",
    "EntryKind",
    "Node",
    "Trace",
    "TraceRow",
    "UnionView",
    "WhiteoutFormat",
    "changes",
    "trace",
    "trace_layers",
]
