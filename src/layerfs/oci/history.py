"""History entries of an image config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from layerfs.oci._json import expect_object, get_bool, get_str, put


@dataclass(frozen=True)
class HistoryEntry:
    """One build step: when, by what instruction, and whether it made a layer.

    `empty_layer=True` marks steps that changed only the config (ENV, CMD, ...).
    """

    created: str | None = None
    created_by: str = ""
    empty_layer: bool = False
    comment: str = ""
    author: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        put(out, "created", self.created)
        put(out, "created_by", self.created_by)
        put(out, "comment", self.comment)
        put(out, "author", self.author)
        if self.empty_layer:
            out["empty_layer"] = True
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "history") -> HistoryEntry:
        expect_object(d, where)
        return cls(
            created=get_str(d, "created", where, None),
            created_by=get_str(d, "created_by", where, ""),
            empty_layer=get_bool(d, "empty_layer", where),
            comment=get_str(d, "comment", where, ""),
            author=get_str(d, "author", where, ""),
        )
