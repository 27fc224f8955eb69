"""A `layerfs.oci.image.Layer` over any compressed blob that can be opened again.

The OCI layout, the archives and the registry hold layers as blobs: each gives an
`opener` (a fresh stream from the start of the blob) and the descriptor and diff_id it
announced; `BlobLayer` verifies both while streaming.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import BinaryIO

from layerfs.archive._io import BUFSIZE
from layerfs.archive.compress import decompressed
from layerfs.archive.verify import VerifyingReader
from layerfs.digest import Digest
from layerfs.oci.descriptor import Descriptor


class BlobLayer:
    """One layer blob (implements `Layer`): digest/size/media type from its descriptor.

    `compressed()` verifies the blob's digest and size at end of stream;
    `uncompressed()` also verifies the diff_id of the decompressed tar. Each call opens
    a new stream the caller closes. `max_size` bounds the decompressed bytes.
    """

    def __init__(self, opener: Callable[[], BinaryIO], descriptor: Descriptor,
                 diff_id: Digest, *, max_size: int | None = None,
                 ranged: Callable[[int], BinaryIO] | None = None) -> None:
        self._open = opener
        self._ranged = ranged
        self._desc = descriptor
        self._diff_id = diff_id
        self._max_size = max_size

    @property
    def descriptor(self) -> Descriptor:
        return self._desc

    def digest(self) -> Digest:
        return self._desc.digest

    def diff_id(self) -> Digest:
        return self._diff_id

    def size(self) -> int:
        return self._desc.size

    def media_type(self) -> str:
        return self._desc.media_type

    @property
    def compressed_from(self) -> Callable[[int], BinaryIO] | None:
        """Opens the blob's bytes from an offset on, UNVERIFIED (the caller hashes the
        whole), for resumable downloads; None when the representation cannot do that."""
        return self._ranged

    def compressed(self) -> BinaryIO:
        raw = VerifyingReader(self._open(), self._desc.digest, f"blob {self._desc.digest}",
                              size=self._desc.size)
        return io.BufferedReader(raw, BUFSIZE)  # type: ignore[return-value]

    def uncompressed(self) -> BinaryIO:
        tar = decompressed(self.compressed(), max_size=self._max_size)
        raw = VerifyingReader(tar, self._diff_id, f"layer {self._diff_id} (diff_id)")
        return io.BufferedReader(raw, BUFSIZE)  # type: ignore[return-value]
