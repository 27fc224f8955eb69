"""Where an analysed image comes from: any transport name, or an engine's storage dir.

Names accepted by `open_source` (one string, as the analysis commands take it):

- everything `transports.locations.Location.parse` knows: a store NAME, `store:NAME`,
  `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:REF]`,
  `docker://HOST/REPO[:TAG]`;
- `docker-overlay2:[ROOT:]NAME`: Docker's storage dir read directly (ROOT defaults to
  /var/lib/docker; NAME a name or an image id);
- `containers-storage:[ROOT]NAME` or skopeo's `[DRIVER@ROOT+RUNROOT]NAME`: podman's and
  buildah's storage read directly; a plain `containers-storage:NAME` is that storage only
  when `storage_root` is given (else it is layerfs's own store, as for `copy`).

dive's `--source docker|podman|docker-archive` words map onto these (`with_source`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from layerfs.analysis.seekable import with_windows
from layerfs.errors import InvalidInput, NotFound
from layerfs.oci.image import Image, Layer

if TYPE_CHECKING:  # imported where used: a docker-archive needs neither (start-up time)
    from layerfs.store.store import Store
    from layerfs.transports.locations import RegistryOptions

DOCKER_ROOT = "/var/lib/docker"
CONTAINERS_ROOT = "/var/lib/containers/storage"

DOCKER_OVERLAY2 = "docker-overlay2"
CONTAINERS_STORAGE = "containers-storage"
#: dive's --source words (and ours) -> the prefix they put before IMAGE
SOURCES = {
    "docker": DOCKER_OVERLAY2 + ":",
    "docker-overlay2": DOCKER_OVERLAY2 + ":",
    "podman": CONTAINERS_STORAGE + ":",
    "containers-storage": CONTAINERS_STORAGE + ":",
    "docker-archive": "docker-archive:",
    "oci": "oci:",
    "oci-archive": "oci-archive:",
    "store": "store:",
}


def with_source(source: str | None, image: str) -> str:
    """IMAGE as a full name given dive's `--source` word (None: IMAGE as it is)."""
    if source is None:
        return image
    prefix = SOURCES.get(source)
    if prefix is None:
        raise InvalidInput(f"unknown source {source!r} (one of {', '.join(sorted(SOURCES))})")
    return image if image.startswith(prefix) else prefix + image


def engine_location(text: str, storage_root: str | None = None) -> tuple[str, str, str] | None:
    """(engine, root, ref) when `text` names an engine storage image, else None."""
    kind, sep, rest = text.partition(":")
    if not sep:
        return None
    if kind == DOCKER_OVERLAY2:
        if rest.startswith("/"):  # the root is a path up to the first ':'
            root, _, ref = rest.partition(":")
            return (DOCKER_OVERLAY2, root, ref)
        return (DOCKER_OVERLAY2, storage_root or DOCKER_ROOT, rest)
    if kind == CONTAINERS_STORAGE:
        if rest.startswith("["):
            spec, sep, ref = rest[1:].partition("]")
            if not sep:
                raise InvalidInput(f"{text!r}: missing ']' after the storage spec")
            root = spec.split("@", 1)[-1].split("+", 1)[0]
            return (CONTAINERS_STORAGE, root or CONTAINERS_ROOT, ref)
        if storage_root is not None:
            return (CONTAINERS_STORAGE, storage_root, rest)
    return None


@contextlib.contextmanager
def open_source(text: str, *, store_root: str | None = None, storage_root: str | None = None,
                opts: RegistryOptions | None = None, verify: bool = False) -> Iterator[Image]:
    """The image named `text` while the context lasts (archives and the store stay open
    until then). `store_root` is layerfs's store (None: the default), opened only for
    store names; `storage_root` the engine dir for a plain `containers-storage:NAME` or
    `docker-overlay2:NAME`. The plain layers of a docker-archive are listed by seeking
    over file data, unverified (`seekable.with_windows`), unless `verify`."""
    engine = engine_location(text, storage_root)
    if engine is not None:
        from layerfs.transports import engines

        kind, root, ref = engine
        if not ref:
            raise InvalidInput(f"{text!r}: no image named")
        opener = engines.open_docker if kind == DOCKER_OVERLAY2 else engines.open_containers
        yield opener(root, ref)
        return
    if text.startswith("docker-archive:"):  # the common case, without the registry modules
        from layerfs.transports import docker_archive

        path, _, ref = text.removeprefix("docker-archive:").partition(":")
        image, files = docker_archive.open_archive(path, ref or None)
        with contextlib.closing(files):
            yield image if verify else with_windows(path, image)
        return
    from layerfs.store.store import Store
    from layerfs.transports.locations import Location, RegistryOptions, open_image

    loc = Location.parse(text)
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(Store.open(store_root)) if loc.transport == "store" else None
        yield stack.enter_context(open_image(loc, opts or RegistryOptions(), store))


def find_layer(store: Store, ref: str) -> Layer:
    """The layer of any stored image whose digest, diff_id or chain id is `ref` (or
    starts with it, at least 4 hex digits; `sha256:` optional). NotFound otherwise;
    InvalidInput when a prefix names several layers."""
    hexpart = ref.removeprefix("sha256:")
    if len(hexpart) < 4:
        raise InvalidInput(f"{ref!r}: give at least 4 hex digits of a layer digest")
    found: dict[str, Layer] = {}
    for record in store.images():
        for layer in store.image(str(record.id)).store_layers():
            ids = (layer.digest().hex, layer.diff_id().hex, layer.chain_id.hex)
            if any(i.startswith(hexpart) for i in ids):
                found.setdefault(layer.chain_id.hex, layer)
    if not found:
        raise NotFound(f"no layer {ref!r} in the store")
    if len(found) > 1:
        raise InvalidInput(f"{ref!r} names {len(found)} layers; give more digits")
    return next(iter(found.values()))
