"""Content descriptors: (media type, digest, size) plus annotations, platform and urls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from layerfs.digest import Digest
from layerfs.errors import InvalidInput
from layerfs.oci._json import (
    expect_object,
    frozen_map,
    get_digest,
    get_int,
    get_str,
    get_str_map,
    get_strs,
    put,
)
from layerfs.oci.platform import Platform

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CREATED = "org.opencontainers.image.created"
ANNOTATION_CONTAINERD_IMAGE_NAME = "io.containerd.image.name"


@dataclass(frozen=True)
class Descriptor:
    """A reference to a blob: what it is (`media_type`), which bytes (`digest`), how many.

    Values are immutable; `annotations` is kept as a read-only mapping (None when absent,
    which is not the same JSON as an empty object, so both survive a round trip).
    """

    media_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] | None = field(default=None, hash=False)
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    artifact_type: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.digest, Digest):
            raise InvalidInput(f"descriptor.digest: expected a Digest, got {self.digest!r}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise InvalidInput(f"descriptor.size: expected an integer >= 0, got {self.size!r}")
        object.__setattr__(self, "annotations", frozen_map(self.annotations))
        object.__setattr__(self, "urls", tuple(self.urls))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the OCI spec (absent optional fields are left out)."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.annotations is not None:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_dict()
        put(out, "urls", self.urls)
        put(out, "artifactType", self.artifact_type)
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "descriptor") -> Descriptor:
        """Parse a descriptor object strictly: InvalidInput naming the bad field."""
        expect_object(d, where)
        size = get_int(d, "size", where)
        if size < 0:
            raise InvalidInput(f"{where}.size: negative ({size})")
        platform = d.get("platform")
        if platform is not None:
            platform = Platform.from_dict(platform, f"{where}.platform")
        return cls(
            media_type=get_str(d, "mediaType", where),
            digest=get_digest(d, "digest", where),
            size=size,
            annotations=get_str_map(d, "annotations", where),
            platform=platform,
            urls=get_strs(d, "urls", where),
            artifact_type=get_str(d, "artifactType", where, None),
        )

    def with_annotations(self, **extra: str) -> Descriptor:
        """A copy with annotations merged in (keys use `_` nowhere: pass a dict via **)."""
        merged = dict(self.annotations or {})
        merged.update(extra)
        return Descriptor(
            self.media_type, self.digest, self.size, merged, self.platform, self.urls,
            self.artifact_type,
        )

    @property
    def ref_name(self) -> str | None:
        """The ``org.opencontainers.image.ref.name`` annotation (an OCI layout tag)."""
        return (self.annotations or {}).get(ANNOTATION_REF_NAME)
