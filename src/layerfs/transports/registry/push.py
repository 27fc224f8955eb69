"""Writing images to a registry: blobs (HEAD first, cross-repo mount, monolithic or
chunked upload), then the config, then the manifest.

Every layer stream is the source's verified stream, so a blob whose bytes do not match
its digest fails the upload before the registry commits it (the final PUT carries the
digest, and the registry checks it too). The manifest goes last: until then nothing the
registry shows under the tag has changed.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import BinaryIO

from layerfs.digest import Digest
from layerfs.errors import DigestMismatch, InvalidInput
from layerfs.oci.descriptor import Descriptor
from layerfs.oci.image import Image
from layerfs.transports._image import encode
from layerfs.transports.registry.client import RegistryClient
from layerfs.transports.registry.reference import RegistryRef

OnBlob = Callable[[str, Descriptor], None]
"""Called with ("exists" | "mounted" | "uploaded", descriptor) after each blob."""

OCTETS = {"Content-Type": "application/octet-stream"}


def push_scope(repository: str, mount_from: Sequence[str] = ()) -> list[str]:
    return [f"repository:{repository}:pull,push"] + [
        f"repository:{r}:pull" for r in mount_from if r != repository
    ]


def _with_digest(location: str, digest: Digest) -> str:
    return f"{location}{'&' if '?' in location else '?'}digest={digest}"


def _location(resp_location: str | None, what: str) -> str:
    if not resp_location:
        raise InvalidInput(f"{what}: the registry sent no Location for the upload")
    return resp_location


def blob_exists(client: RegistryClient, repository: str, desc: Descriptor) -> bool:
    """HEAD the blob: True when the registry has it (with the same size, if it says)."""
    with client.request("HEAD", f"/v2/{repository}/blobs/{desc.digest}",
                        scope=push_scope(repository), ok=(200, 404)) as resp:
        if resp.status != 200:
            return False
        length = resp.header("Content-Length")
        return length is None or not length.isdigit() or int(length) == desc.size


def start_upload(client: RegistryClient, repository: str, desc: Descriptor,
                 mount_from: Sequence[str]) -> str | None:
    """Mount the blob from another repository if one has it (None), else an upload URL."""
    scope = push_scope(repository, mount_from)
    base = f"/v2/{repository}/blobs/uploads/"
    for source in mount_from:
        if source == repository:
            continue
        with client.request("POST", f"{base}?mount={desc.digest}&from={source}",
                            scope=scope, ok=(201, 202), headers={"Content-Length": "0"}) as r:
            if r.status == 201:
                return None
            return _location(r.header("Location"), f"POST {base}")
    with client.request("POST", base, scope=scope, ok=(202,),
                        headers={"Content-Length": "0"}) as resp:
        return _location(resp.header("Location"), f"POST {base}")


def upload(client: RegistryClient, repository: str, location: str, desc: Descriptor,
           stream: BinaryIO, chunk_size: int | None = None) -> None:
    """Send the blob to the upload `location`: one PUT, or PATCHes of `chunk_size` bytes
    (Content-Range) and a closing PUT. The stream is read to EOF (its digest checked)."""
    scope = push_scope(repository)
    if not chunk_size:
        headers = {**OCTETS, "Content-Length": str(desc.size)}
        client.request("PUT", _with_digest(location, desc.digest), scope=scope, ok=(201,),
                       headers=headers, body=_Exact(stream, desc.size)).close()
        return
    offset = 0
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        headers = {**OCTETS, "Content-Length": str(len(chunk)),
                   "Content-Range": f"{offset}-{offset + len(chunk) - 1}"}
        with client.request("PATCH", location, scope=scope, ok=(202,), headers=headers,
                            body=chunk) as resp:
            location = _location(resp.header("Location"), f"PATCH {location}")
        offset += len(chunk)
    if offset != desc.size:
        raise DigestMismatch(f"blob {desc.digest}: {offset} bytes, expected {desc.size}")
    client.request("PUT", _with_digest(location, desc.digest), scope=scope, ok=(201,),
                   headers={"Content-Length": "0"}, body=b"").close()


class _Exact(io.RawIOBase):
    """`stream` read to EOF after exactly `size` bytes (so a verifying stream checks)."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self._stream = stream
        self._left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        data = self._stream.read(n if n and n > 0 else 1 << 20)
        self._left -= len(data)
        if self._left < 0:
            raise DigestMismatch(f"blob stream longer than announced by {-self._left} bytes")
        if not data and self._left:
            raise DigestMismatch(f"blob stream {self._left} bytes short")
        if self._left == 0 and data and self._stream.read(1):
            raise DigestMismatch("blob stream longer than announced")
        return data


def push_blob(client: RegistryClient, repository: str, desc: Descriptor,
              open_stream: Callable[[], BinaryIO], *, mount_from: Sequence[str] = (),
              chunk_size: int | None = None) -> str:
    """Make the blob present in `repository`: "exists", "mounted" or "uploaded"."""
    if blob_exists(client, repository, desc):
        return "exists"
    location = start_upload(client, repository, desc, mount_from)
    if location is None:
        return "mounted"
    with open_stream() as stream:
        upload(client, repository, location, desc, stream, chunk_size)
    return "uploaded"


def push_image(client: RegistryClient, ref: RegistryRef, image: Image, *,
               mount_from: Sequence[str] = (), chunk_size: int | None = None,
               on_blob: OnBlob | None = None) -> Digest:
    """Push `image` to `ref`; returns the manifest digest. Media types are kept."""
    repo = ref.repository
    enc = encode(image)
    for desc, layer in zip(enc.manifest.layers, image.layers(), strict=True):
        how = push_blob(client, repo, desc, layer.compressed, mount_from=mount_from,
                        chunk_size=chunk_size)
        if on_blob:
            on_blob(how, desc)
    config = enc.manifest.config
    how = push_blob(client, repo, config, lambda: io.BytesIO(enc.config_bytes),
                    mount_from=mount_from)
    if on_blob:
        on_blob(how, config)
    digest = Digest.of_bytes(enc.manifest_bytes)
    headers = {"Content-Type": enc.manifest.media_type,
               "Content-Length": str(len(enc.manifest_bytes))}
    with client.request("PUT", f"/v2/{repo}/manifests/{ref.tag or digest}",
                        scope=push_scope(repo), ok=(201,), headers=headers,
                        body=enc.manifest_bytes) as resp:
        said = resp.header("Docker-Content-Digest")
    if said and said != str(digest):
        raise DigestMismatch(f"registry stored the manifest as {said}, expected {digest}")
    return digest
