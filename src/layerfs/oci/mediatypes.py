"""Media types of the OCI image spec and Docker's registry v2 schema 2, and conversions.

Only names live here: which bytes a media type announces, and how a type of one family maps
to the other (`to_docker`, `to_oci`). Nothing here reads a blob.
"""

from __future__ import annotations

# OCI image-spec v1
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYOUT_VERSION = "1.0.0"

# Docker registry v2, schema 2
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
# schema 1 is refused with a clear message, never parsed
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
CONFIGS = frozenset({OCI_CONFIG, DOCKER_CONFIG})

# compression of each layer type: "none", "gzip" or "zstd"
_LAYERS: dict[str, str] = {
    OCI_LAYER: "none",
    OCI_LAYER_GZIP: "gzip",
    OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER_NONDIST: "none",
    OCI_LAYER_NONDIST_GZIP: "gzip",
    OCI_LAYER_NONDIST_ZSTD: "zstd",
    DOCKER_LAYER: "none",
    DOCKER_LAYER_GZIP: "gzip",
    DOCKER_LAYER_ZSTD: "zstd",
    DOCKER_FOREIGN_LAYER: "gzip",
}
LAYERS = frozenset(_LAYERS)
FOREIGN_LAYERS = frozenset(
    {OCI_LAYER_NONDIST, OCI_LAYER_NONDIST_GZIP, OCI_LAYER_NONDIST_ZSTD, DOCKER_FOREIGN_LAYER}
)

_TO_DOCKER = {
    OCI_MANIFEST: DOCKER_MANIFEST,
    OCI_INDEX: DOCKER_MANIFEST_LIST,
    OCI_CONFIG: DOCKER_CONFIG,
    OCI_LAYER: DOCKER_LAYER,
    OCI_LAYER_GZIP: DOCKER_LAYER_GZIP,
    OCI_LAYER_ZSTD: DOCKER_LAYER_ZSTD,
    OCI_LAYER_NONDIST_GZIP: DOCKER_FOREIGN_LAYER,
}
_TO_OCI = {v: k for k, v in _TO_DOCKER.items()}


def is_layer(media_type: str) -> bool:
    """True for every layer media type of either family (foreign ones included)."""
    return media_type in _LAYERS


def is_foreign(media_type: str) -> bool:
    """True for non-distributable layers (their blobs may live only at their `urls`)."""
    return media_type in FOREIGN_LAYERS


def layer_compression(media_type: str) -> str:
    """"none", "gzip" or "zstd" for a layer media type; KeyError for anything else."""
    return _LAYERS[media_type]


def layer_type(compression: str, *, docker: bool = False) -> str:
    """The layer media type for a compression ("none", "gzip", "zstd") in one family."""
    oci = {"none": OCI_LAYER, "gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD}[compression]
    return _TO_DOCKER[oci] if docker else oci


def to_docker(media_type: str) -> str:
    """The Docker schema-2 equivalent of an OCI type (unchanged if it has none)."""
    return _TO_DOCKER.get(media_type, media_type)


def to_oci(media_type: str) -> str:
    """The OCI equivalent of a Docker schema-2 type (unchanged if it has none)."""
    return _TO_OCI.get(media_type, media_type)


def is_docker(media_type: str) -> bool:
    """True for the Docker family's types."""
    return media_type.startswith("application/vnd.docker.")
