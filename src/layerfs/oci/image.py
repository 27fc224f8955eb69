"""The one image interface (DESIGN.md idea 4): what every image representation offers.

The store, an OCI layout, an oci-archive, a docker-archive and a registry each implement
`Image` and `Layer` in one small module; copying, saving and analysis code against these
protocols only.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol, runtime_checkable

from layerfs.digest import Digest
from layerfs.oci.config import ImageConfig
from layerfs.oci.manifest import Manifest


@runtime_checkable
class Layer(Protocol):
    """One layer of an image.

    `digest()` names the blob as stored/transferred (compressed), `diff_id()` the
    uncompressed tar; `size()` is the blob's size in bytes. `compressed()` and
    `uncompressed()` open a new stream each call, positioned at the start; the caller
    closes it. Implementations verify digests while streaming where they can and raise
    `layerfs.errors.DigestMismatch` at the end of a stream that does not match.
    """

    def digest(self) -> Digest: ...

    def diff_id(self) -> Digest: ...

    def size(self) -> int: ...

    def media_type(self) -> str: ...

    def compressed(self) -> BinaryIO: ...

    def uncompressed(self) -> BinaryIO: ...


@runtime_checkable
class Image(Protocol):
    """One image (a single platform): manifest, config and layers, base first.

    `digest()` is the digest of the manifest bytes as this representation holds them.
    """

    def manifest(self) -> Manifest: ...

    def config(self) -> ImageConfig: ...

    def layers(self) -> list[Layer]: ...

    def digest(self) -> Digest: ...
