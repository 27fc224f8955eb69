"""The image configuration (OCI image-spec config.md; Docker's image JSON is the same shape)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from layerfs.digest import Digest
from layerfs.errors import InvalidInput
from layerfs.oci._json import (
    canonical,
    expect_object,
    get_digest,
    get_list,
    get_str,
    load_object,
    put,
)
from layerfs.oci.container_config import ContainerConfig, Healthcheck
from layerfs.oci.history import HistoryEntry

__all__ = ["ContainerConfig", "Healthcheck", "HistoryEntry", "ImageConfig"]


@dataclass(frozen=True)
class ImageConfig:
    """An image's configuration: platform, run defaults, diff_ids (base first), history.

    Values are immutable: `with_layer`, `with_history`, `with_config` return new ones.
    `to_json()` is canonical. Fields the model does not know are kept in `extra` and
    written back, so a parsed config loses nothing it understood or did not.
    """

    architecture: str
    os: str
    config: ContainerConfig = field(default_factory=ContainerConfig)
    diff_ids: tuple[Digest, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    created: str | None = None
    author: str | None = None
    variant: str | None = None
    os_version: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "diff_ids", tuple(self.diff_ids))
        object.__setattr__(self, "history", tuple(self.history))

    # ------------------------------------------------------------------ derived values

    def with_layer(self, diff_id: Digest, history: HistoryEntry) -> ImageConfig:
        """A new config with one more layer on top and its (non-empty) history entry."""
        entry = dataclasses.replace(history, empty_layer=False)
        return dataclasses.replace(
            self, diff_ids=(*self.diff_ids, diff_id), history=(*self.history, entry)
        )

    def with_history(self, history: HistoryEntry) -> ImageConfig:
        """A new config with one more history entry (empty_layer as given, no layer)."""
        return dataclasses.replace(self, history=(*self.history, history))

    def with_config(self, **changes: Any) -> ImageConfig:
        """A new config whose ContainerConfig has `changes` applied (field names)."""
        return dataclasses.replace(self, config=dataclasses.replace(self.config, **changes))

    def replace(self, **changes: Any) -> ImageConfig:
        return dataclasses.replace(self, **changes)

    def layer_history(self) -> list[tuple[HistoryEntry, Digest | None]]:
        """Each history entry with the diff_id it made (None for empty_layer entries).

        When a producer left history shorter than the layers, the missing entries are
        synthesized with an empty `created_by`, so every diff_id appears exactly once.
        """
        out: list[tuple[HistoryEntry, Digest | None]] = []
        layers = iter(self.diff_ids)
        for h in self.history:
            out.append((h, None if h.empty_layer else next(layers, None)))
        out.extend((HistoryEntry(), d) for d in layers)
        return out

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out["architecture"] = self.architecture
        out["os"] = self.os
        put(out, "variant", self.variant)
        put(out, "os.version", self.os_version)
        put(out, "created", self.created)
        put(out, "author", self.author)
        out["config"] = self.config.to_dict()
        out["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in self.diff_ids]}
        if self.history:
            out["history"] = [h.to_dict() for h in self.history]
        return out

    def to_json(self) -> bytes:
        """Canonical JSON bytes (deterministic)."""
        return canonical(self.to_dict())

    def digest(self) -> Digest:
        """The digest of `to_json()` (the image id when this config was made by us)."""
        return Digest.of_bytes(self.to_json())

    @classmethod
    def parse(cls, data: bytes) -> ImageConfig:
        """Parse an OCI or Docker image config; InvalidInput naming the bad field."""
        return cls.from_dict(load_object(data, "config"))

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "config") -> ImageConfig:
        rootfs = expect_object(d.get("rootfs", {"type": "layers"}), f"{where}.rootfs")
        rtype = get_str(rootfs, "type", f"{where}.rootfs", "layers")
        if rtype != "layers":
            raise InvalidInput(f"{where}.rootfs.type: expected 'layers', got {rtype!r}")
        diff_ids = get_list(rootfs, "diff_ids", f"{where}.rootfs")
        history = get_list(d, "history", where)
        known = {"architecture", "os", "variant", "os.version", "created", "author",
                 "config", "rootfs", "history"}
        return cls(
            architecture=get_str(d, "architecture", where, ""),
            os=get_str(d, "os", where, ""),
            config=ContainerConfig.from_dict(d.get("config"), f"{where}.config"),
            diff_ids=tuple(
                get_digest({"d": x}, "d", f"{where}.rootfs.diff_ids[{i}]")
                for i, x in enumerate(diff_ids)
            ),
            history=tuple(
                HistoryEntry.from_dict(h, f"{where}.history[{i}]") for i, h in enumerate(history)
            ),
            created=get_str(d, "created", where, None),
            author=get_str(d, "author", where, None),
            variant=get_str(d, "variant", where, None) or None,
            os_version=get_str(d, "os.version", where, None),
            extra={k: v for k, v in d.items() if k not in known},
        )

