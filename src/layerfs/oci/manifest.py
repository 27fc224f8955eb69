"""Image manifests (OCI v1 and Docker registry v2 schema 2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from layerfs.digest import Digest
from layerfs.errors import InvalidInput
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


@dataclass(frozen=True)
class Manifest:
    """An image manifest: one config blob and the layer blobs, base first.

    `to_json()` is canonical (sorted keys, no whitespace), so equal values give equal
    bytes and equal digests. `parse` accepts what registries and tools write, but the
    store keeps the original bytes: re-encoding a parsed foreign manifest need not give
    the same digest.
    """

    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = mt.OCI_MANIFEST
    annotations: Mapping[str, str] | None = field(default=None, hash=False)
    subject: Descriptor | None = None
    artifact_type: str | None = None

    def __post_init__(self) -> None:
        if self.media_type not in mt.MANIFESTS:
            raise InvalidInput(f"manifest.mediaType: not an image manifest: {self.media_type!r}")
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "annotations", frozen_map(self.annotations))

    @property
    def is_docker(self) -> bool:
        return self.media_type == mt.DOCKER_MANIFEST

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_dict(),
            "layers": [layer.to_dict() for layer in self.layers],
        }
        if self.annotations is not None:
            out["annotations"] = dict(self.annotations)
        if self.subject is not None:
            out["subject"] = self.subject.to_dict()
        if self.artifact_type is not None:
            out["artifactType"] = self.artifact_type
        return out

    def to_json(self) -> bytes:
        """Canonical JSON bytes (deterministic)."""
        return canonical(self.to_dict())

    @classmethod
    def parse(cls, data: bytes) -> Manifest:
        """Parse an OCI or Docker schema-2 manifest; InvalidInput naming the bad field.

        Refuses indexes (use `Index.parse`) and Docker schema 1 with a message saying so.
        """
        d = load_object(data, "manifest")
        return cls.from_dict(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "manifest") -> Manifest:
        version = get_int(d, "schemaVersion", where)
        media_type = get_str(d, "mediaType", where, mt.OCI_MANIFEST)
        if version == 1 or media_type in (mt.DOCKER_MANIFEST_V1, mt.DOCKER_MANIFEST_V1_SIGNED):
            raise InvalidInput(f"{where}: Docker schema 1 manifests are not supported")
        if version != 2:
            raise InvalidInput(f"{where}.schemaVersion: expected 2, got {version}")
        if media_type in mt.INDEXES or ("manifests" in d and "layers" not in d):
            raise InvalidInput(f"{where}: is an index ({media_type}), not a manifest")
        if media_type not in mt.MANIFESTS:
            raise InvalidInput(f"{where}.mediaType: not an image manifest: {media_type!r}")
        if "config" not in d:
            raise InvalidInput(f"{where}.config: missing")
        layers = get_list(d, "layers", where, required=True)
        subject = d.get("subject")
        return cls(
            config=Descriptor.from_dict(d["config"], f"{where}.config"),
            layers=tuple(
                Descriptor.from_dict(x, f"{where}.layers[{i}]") for i, x in enumerate(layers)
            ),
            media_type=media_type,
            annotations=get_str_map(d, "annotations", where),
            subject=None if subject is None else Descriptor.from_dict(subject, f"{where}.subject"),
            artifact_type=get_str(d, "artifactType", where, None),
        )

    def to_docker(self) -> Manifest:
        """The same manifest with Docker schema-2 media types (for docker-archive, docker://)."""
        return self._converted(mt.DOCKER_MANIFEST, mt.to_docker)

    def to_oci(self) -> Manifest:
        """The same manifest with OCI media types."""
        return self._converted(mt.OCI_MANIFEST, mt.to_oci)

    def _converted(self, media_type: str, conv: Any) -> Manifest:
        def c(d: Descriptor) -> Descriptor:
            return Descriptor(conv(d.media_type), d.digest, d.size, d.annotations, d.platform,
                              d.urls, d.artifact_type)

        return Manifest(c(self.config), tuple(c(x) for x in self.layers), media_type,
                        self.annotations, self.subject, self.artifact_type)

    def descriptor(self, **annotations: str) -> Descriptor:
        """A descriptor of this manifest's canonical bytes."""
        data = self.to_json()
        return Descriptor(self.media_type, Digest.of_bytes(data), len(data),
                          annotations or None)
