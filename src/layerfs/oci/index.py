"""Image indexes (OCI) and manifest lists (Docker), with platform selection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from layerfs.errors import InvalidInput, NotFound
from layerfs.oci import mediatypes as mt
from layerfs.oci._json import (
    canonical,
    frozen_map,
    get_int,
    get_list,
    get_str,
    get_str_map,
    load_object,
)
from layerfs.oci.descriptor import Descriptor
from layerfs.oci.platform import Platform


@dataclass(frozen=True)
class Index:
    """A list of manifests (usually one per platform). `to_json()` is canonical."""

    manifests: tuple[Descriptor, ...]
    media_type: str = mt.OCI_INDEX
    annotations: Mapping[str, str] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if self.media_type not in mt.INDEXES:
            raise InvalidInput(f"index.mediaType: not an index: {self.media_type!r}")
        object.__setattr__(self, "manifests", tuple(self.manifests))
        object.__setattr__(self, "annotations", frozen_map(self.annotations))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "manifests": [m.to_dict() for m in self.manifests],
        }
        if self.annotations is not None:
            out["annotations"] = dict(self.annotations)
        return out

    def to_json(self) -> bytes:
        """Canonical JSON bytes (deterministic)."""
        return canonical(self.to_dict())

    @classmethod
    def parse(cls, data: bytes) -> Index:
        """Parse an OCI index or Docker manifest list; InvalidInput naming the bad field."""
        d = load_object(data, "index")
        where = "index"
        version = get_int(d, "schemaVersion", where)
        if version != 2:
            raise InvalidInput(f"{where}.schemaVersion: expected 2, got {version}")
        media_type = get_str(d, "mediaType", where, mt.OCI_INDEX)
        if media_type in mt.MANIFESTS or ("layers" in d and "manifests" not in d):
            raise InvalidInput(f"{where}: is a manifest ({media_type}), not an index")
        if media_type not in mt.INDEXES:
            raise InvalidInput(f"{where}.mediaType: not an index: {media_type!r}")
        items = get_list(d, "manifests", where, required=True)
        return cls(
            manifests=tuple(
                Descriptor.from_dict(x, f"{where}.manifests[{i}]") for i, x in enumerate(items)
            ),
            media_type=media_type,
            annotations=get_str_map(d, "annotations", where),
        )

    def select(self, platform: Platform | None = None) -> Descriptor:
        """The manifest for `platform` (default: this host).

        Entries without a platform match only when the index has no platform-tagged
        entry at all. Among matches, an exact variant wins over a normalized one; then
        the first in index order. NotFound lists the platforms available.
        """
        want = platform or Platform.host()
        tagged = [m for m in self.manifests if m.platform is not None]
        if not tagged:
            images = [m for m in self.manifests if m.media_type in mt.MANIFESTS]
            if images:
                return images[0]
            raise NotFound("index holds no image manifest")
        matches = [m for m in tagged if m.platform is not None and want.matches(m.platform)]
        if not matches:
            have = ", ".join(sorted({str(m.platform) for m in tagged}))
            raise NotFound(f"no manifest for platform {want} (index has: {have})")
        exact = [m for m in matches if m.platform and m.platform.variant == want.variant]
        return (exact or matches)[0]

    def by_ref_name(self, name: str) -> Descriptor:
        """The entry annotated ``org.opencontainers.image.ref.name=name`` (OCI layout tags)."""
        for m in self.manifests:
            if m.ref_name == name:
                return m
        raise NotFound(f"no manifest tagged {name!r}")
