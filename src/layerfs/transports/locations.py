"""Image locations by skopeo's transport names, opened as `Image`s or written to.

`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:REF|:@N]`,
`docker://HOST/REPO[:TAG|@DIGEST]`, and the local store as `store:NAME`,
`containers-storage:NAME` or a plain NAME. The path ends at the first `:` after the
transport (as in skopeo); the rest is the tag or reference.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from layerfs.errors import InvalidInput
from layerfs.oci.image import Image
from layerfs.oci.platform import Platform
from layerfs.store import names
from layerfs.store.put import Note, add_image
from layerfs.transports import docker_archive, layout, oci_archive
from layerfs.transports._image import encode, gzip_plain_layers
from layerfs.transports.registry.auth import Credentials
from layerfs.transports.registry.client import RegistryClient
from layerfs.transports.registry.pull import open_image as pull
from layerfs.transports.registry.push import push_image
from layerfs.transports.registry.reference import RegistryRef

if TYPE_CHECKING:
    from layerfs.store.store import Store

TRANSPORTS = ("oci", "oci-archive", "docker-archive", "docker", "store")
_ALIASES = {"containers-storage": "store"}


@dataclass(frozen=True)
class Location:
    """Where an image is: a transport, its path (dir, file, reference or name), a tag."""

    transport: str
    path: str
    ref: str | None = None

    @classmethod
    def parse(cls, text: str) -> Location:
        """Parse a transport name; a text without a known transport is a store name."""
        transport, sep, rest = text.partition(":")
        transport = _ALIASES.get(transport, transport)
        if not sep or transport not in TRANSPORTS:
            return cls("store", text)
        if transport == "docker":
            if not rest.startswith("//"):
                raise InvalidInput(f"{text!r}: expected docker://HOST/REPO[:TAG]")
            RegistryRef.parse(rest[2:])  # refuse a malformed reference early
            return cls("docker", rest[2:])
        if transport == "store":
            return cls("store", rest)
        path, sep, ref = rest.partition(":")
        if not path:
            raise InvalidInput(f"{text!r}: missing the path after {transport}:")
        return cls(transport, path, ref if sep and ref else None)

    def __str__(self) -> str:
        if self.transport == "docker":
            return f"docker://{self.path}"
        return f"{self.transport}:{self.path}" + (f":{self.ref}" if self.ref else "")


@dataclass(frozen=True)
class RegistryOptions:
    """How to reach registries: TLS, credentials, platform, upload chunking, whether
    uncompressed layers are gzipped for a push."""

    tls_verify: bool = True
    creds: Credentials | None = None
    platform: Platform | None = None
    chunk_size: int | None = None
    compress: bool = True  # gzip plain layers on the way to a registry (skopeo does)

    def client(self, ref: RegistryRef) -> RegistryClient:
        return RegistryClient(ref.api_host, tls_verify=self.tls_verify, creds=self.creds)


@contextlib.contextmanager
def open_image(loc: Location, opts: RegistryOptions, store: Store | None = None) -> Iterator[Image]:
    """The image at `loc` while the context lasts (archives stay open until then).

    `store` is an open `Store`, needed for the store transport only.
    """
    if loc.transport == "store":
        if store is None:
            raise InvalidInput(f"{loc}: no store given")
        yield store.image(loc.path)
    elif loc.transport == "oci":
        yield layout.open_dir(loc.path, loc.ref, opts.platform)
    elif loc.transport == "oci-archive":
        image, files = oci_archive.open_archive(loc.path, loc.ref, opts.platform)
        with contextlib.closing(files):
            yield image
    elif loc.transport == "docker-archive":
        image, files = docker_archive.open_archive(loc.path, loc.ref)
        with contextlib.closing(files):
            yield image
    else:
        ref = RegistryRef.parse(loc.path)
        yield pull(opts.client(ref), ref, opts.platform)


def default_tags(loc: Location) -> list[str]:
    """The store names an image copied from `loc` gets when none is given."""
    if loc.transport == "docker":
        ref = RegistryRef.parse(loc.path)
        return [ref.name] if ref.tag else []
    if loc.transport == "store":
        return [loc.path] if names.is_name(loc.path) else []
    if loc.ref and names.is_name(loc.ref) and (":" in loc.ref or "/" in loc.ref):
        return [names.normalize(loc.ref)]
    return []


def write_image(loc: Location, image: Image, opts: RegistryOptions, store: Store | None = None,
                mount_from: Sequence[str] = (), *, keep_privileged: bool = False,
                note: Note | None = None) -> str:
    """Write `image` to `loc`; returns what identifies it there (digest or image id).
    Into the store, new layers drop privileged bits and xattrs unless `keep_privileged`
    (see `add_image`; drops go to `note`)."""
    if loc.transport == "store":
        if store is None:
            raise InvalidInput(f"{loc}: no store given")
        tags = [loc.path] if loc.path else []
        return str(add_image(store, image, tags, keep_privileged=keep_privileged,
                             note=note).id)
    if loc.transport == "oci":
        return str(layout.save_dir(loc.path, image, loc.ref).digest)
    if loc.transport == "oci-archive":
        return str(oci_archive.save_archive(loc.path, [(image, loc.ref)])[0].digest)
    if loc.transport == "docker-archive":
        docker_archive.save_archive(loc.path, [(image, [loc.ref] if loc.ref else [])])
        return str(encode(image).config_digest)
    ref = RegistryRef.parse(loc.path)
    with tempfile.TemporaryDirectory(prefix="layerfs-push-") as tmp:
        if opts.compress:
            image = gzip_plain_layers(image, tmp)
        return str(push_image(opts.client(ref), ref, image, mount_from=mount_from,
                              chunk_size=opts.chunk_size))

