"""Reading images from a registry: manifests (index → platform), configs, blobs.

`open_image` returns a `RawImage` whose manifest and config were fetched now (size
limited, digest verified) and whose layers stream their blobs lazily. A blob stream is
resumable: when the connection drops mid-blob it asks again with `Range: bytes=N-` and
continues where it was (a registry answering 200 instead of 206 is read past the bytes
already had); `archive.verify.VerifyingReader` (under the store's reader) checks size and
digest at EOF either way.
Layers also open streams from an offset on (`BlobLayer.compressed_from`): the store
keeps partial downloads across runs and resumes them with a Range request.
"""

from __future__ import annotations

import http.client
import io
from collections.abc import Callable
from typing import BinaryIO

from layerfs.digest import Digest
from layerfs.errors import InvalidInput
from layerfs.oci import mediatypes as mt
from layerfs.oci._json import load_object
from layerfs.oci.config import ImageConfig
from layerfs.oci.descriptor import Descriptor
from layerfs.oci.index import Index
from layerfs.oci.manifest import Manifest
from layerfs.oci.platform import Platform
from layerfs.store.blobs import CHUNK
from layerfs.transports._files import MAX_JSON
from layerfs.transports._image import Opener, RawImage, check_config, layers_of
from layerfs.transports.registry.client import RegistryClient, Response
from layerfs.transports.registry.reference import RegistryRef

ACCEPT = ", ".join([mt.OCI_MANIFEST, mt.DOCKER_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST])
RETRIES = 5
_DROPPED = (ConnectionError, http.client.HTTPException, TimeoutError)


def pull_scope(repository: str) -> list[str]:
    return [f"repository:{repository}:pull"]


def get_manifest(client: RegistryClient, repository: str, reference: str,
                 expected: Digest | None = None) -> tuple[bytes, str]:
    """(bytes, media type) of a manifest or index; verified when `reference` or
    `expected` is a digest. Refuses replies over MAX_JSON bytes."""
    path = f"/v2/{repository}/manifests/{reference}"
    with client.request("GET", path, scope=pull_scope(repository),
                        headers={"Accept": ACCEPT}) as resp:
        data = resp.read_limited(MAX_JSON, f"manifest {repository}:{reference}")
        media_type = (resp.header("Content-Type") or "").split(";")[0].strip()
    if expected is None and reference.startswith("sha256:"):
        expected = Digest.parse(reference)
    if expected is not None:
        expected.verify(data, f"manifest {repository}@{expected}")
    if media_type not in mt.MANIFESTS | mt.INDEXES:
        media_type = _sniff(data)
    return data, media_type


def _sniff(data: bytes) -> str:
    d = load_object(data, "manifest")
    declared = d.get("mediaType")
    if isinstance(declared, str) and declared in mt.MANIFESTS | mt.INDEXES:
        return declared
    return mt.OCI_INDEX if "manifests" in d else mt.OCI_MANIFEST


class BlobReader(io.RawIOBase):
    """The bytes of one blob over HTTP, resumed with Range after a dropped connection."""

    def __init__(self, client: RegistryClient, repository: str, digest: Digest,
                 offset: int = 0) -> None:
        """Starts at byte `offset` (a Range request) when it is not 0."""
        self._client = client
        self._path = f"/v2/{repository}/blobs/{digest}"
        self._scope = pull_scope(repository)
        self._offset = offset
        self._retries = 0
        self._end: int | None = None
        self._resp: Response | None = self._open()

    def _open(self) -> Response:
        headers = {"Range": f"bytes={self._offset}-"} if self._offset else {}
        resp = self._client.request("GET", self._path, scope=self._scope, ok=(200, 206),
                                    headers=headers)
        length = resp.header("Content-Length") or ""
        # where this reply should end; a shorter reply means the connection dropped
        base = self._offset if resp.status == 206 else 0
        self._end = base + int(length) if length.isdigit() else None
        if self._offset and resp.status == 200:  # no Range support: skip what we have
            left = self._offset
            while left:
                got = resp.body.read(min(left, CHUNK))
                if not got:
                    resp.close()
                    raise InvalidInput(f"{self._path}: blob shorter on retry")
                left -= len(got)
        elif self._offset:
            start = (resp.header("Content-Range") or "").removeprefix("bytes ").split("-")[0]
            if start != str(self._offset):
                resp.close()
                raise InvalidInput(f"{self._path}: Content-Range {start!r} does not continue"
                                   f" at byte {self._offset}")
        return resp

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while True:
            if self._resp is None:
                self._resp = self._open()
            try:
                n = self._resp.body.readinto(b)
            except _DROPPED:
                n = -1
            if n and n > 0:
                self._offset += n
                return n
            if n == 0 and (self._end is None or self._offset >= self._end):
                return 0
            self._resp.close()
            self._resp = None
            self._retries += 1
            if self._retries > RETRIES:
                raise OSError(f"{self._path}: connection dropped {RETRIES} times")

    def close(self) -> None:
        if self._resp is not None:
            self._resp.close()
            self._resp = None
        super().close()


def open_image(client: RegistryClient, ref: RegistryRef,
               platform: Platform | None = None) -> RawImage:
    """The image `ref` names (an index is resolved for `platform`, default: this host)."""
    data, media_type = get_manifest(client, ref.repository, ref.reference)
    for _ in range(4):
        if media_type not in mt.INDEXES:
            break
        desc = Index.parse(data).select(platform)
        data, media_type = get_manifest(client, ref.repository, str(desc.digest), desc.digest)
    manifest = Manifest.parse(data)
    where = f"docker://{ref}"
    if manifest.config.size > MAX_JSON:
        raise InvalidInput(f"{where}: config of {manifest.config.size} bytes is over the limit")
    with io.BufferedReader(BlobReader(client, ref.repository, manifest.config.digest)) as blob:
        raw_config = blob.read(manifest.config.size + 1)  # buffered: loops to n or EOF
    check_config(raw_config, manifest.config, where)

    def opener(d: Descriptor) -> Opener:
        return lambda: BlobReader(client, ref.repository, d.digest)  # type: ignore[return-value]

    def ranged(d: Descriptor) -> Callable[[int], BinaryIO]:
        return lambda offset: BlobReader(client, ref.repository, d.digest, offset)  # type: ignore[return-value]

    layers = layers_of(manifest, ImageConfig.parse(raw_config), opener, where, ranged)
    return RawImage(data, raw_config, layers)
