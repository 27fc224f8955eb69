"""Sizes: `ps -s` (docker's SIZE and virtual size) and `system df` / prune accounting.

`ps -s` follows docker exactly: SIZE is the writable layer's size as docker's
`directory.Size` computes it (apparent bytes of the files in the upper dir, directories
not counted, hard links once) and "virtual" is the image's size plus that (docker's
definition; podman's virtual leaves the writable layer out).

`system df` counts bytes on disk (allocated blocks, hard links once) of what the store
holds, so that "reclaimable" is exactly what the matching prune frees (docker/cli#1751:
never add a layer shared by two images twice):

- images: the layer dirs and blobs (layers, config, manifest) each image references;
  SHARED = the part another image references too; reclaimable = what removing every
  image that no container uses frees (layers still used by a kept image, a container
  or the build cache stay);
- containers: their whole dirs (writable layer, work dir, log, spec); reclaimable =
  the containers that are not running;
- local volumes: `volumes/<name>`; reclaimable = volumes no container uses;
- build cache: layers only the build cache references; all reclaimable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from layerfs.digest import Digest
from layerfs.runtime.containers import RUNNING, Container, list_containers, path_of
from layerfs.runtime.rootfs import is_mounted
from layerfs.runtime.volumes import list_volumes, volume_users
from layerfs.store import images as store_images
from layerfs.store.snapshots import tree_usage

if TYPE_CHECKING:
    from layerfs.store.store import Store


def size_rw(store: Store, c: Container) -> int:
    """docker's SizeRw: apparent bytes of the non-directory files of the upper dir."""
    seen: set[int] = set()
    total = 0
    for root, dirs, files in os.walk(path_of(store, c.id, "upper")):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            st = os.lstat(os.path.join(root, name))
            if st.st_size and st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
    return total


def container_usage(store: Store, cid: str) -> int:
    """Bytes on disk of the container's dir (its writable layer, work dir, log, spec...),
    not counting what is mounted on merged/ (the union is not its own data)."""
    base = path_of(store, cid, "")
    total = os.lstat(base).st_blocks * 512
    for name in os.listdir(base):
        if name != "merged" or not is_mounted(store, cid):
            total += tree_usage(os.path.join(base, name)).size
    return total


def ps_size(store: Store, c: Container) -> tuple[int, int]:
    """(SizeRw, virtual size = image size + SizeRw) as `ps -s` prints them."""
    rw = size_rw(store, c)
    try:
        image = store_images.get(store, Digest.parse(c.image_id)).size
    except (KeyError, ValueError):
        image = 0
    return rw, image + rw


@dataclass(frozen=True)
class Item:
    """One object of `system df -v`: its bytes on disk, shared part, and whether the
    matching prune would remove it."""

    kind: str
    name: str
    size: int
    shared: int = 0
    active: bool = False
    reclaimable: bool = False
    detail: dict[str, object] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Summary:
    """One line of `system df`."""

    kind: str
    total: int
    active: int
    size: int
    reclaimable: int


def _summed(kind: str, items: list[Item]) -> Summary:
    """A df line whose objects do not share bytes: sums of their sizes."""
    return Summary(
        kind,
        len(items),
        sum(i.active for i in items),
        sum(i.size for i in items),
        sum(i.size for i in items if i.reclaimable),
    )


def _chain(store: Store, top: Digest | None) -> list[Digest]:
    out = []
    while top is not None:
        out.append(top)
        top = store.layer(top).parent
    return out


class Accounting:
    """A snapshot of what every object of the store holds on disk."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.layer_bytes = {
            rec.chain_id: tree_usage(store.paths.layer(rec.chain_id)).size for rec in store.layers()
        }
        self.blob_bytes = {
            d: os.lstat(store.paths.blob(d)).st_blocks * 512 for d in store.blobs.digests()
        }
        self.containers = list_containers(store)
        self.image_parts: dict[Digest, set[tuple[str, Digest]]] = {}
        for image in store.images():
            parts: set[tuple[str, Digest]] = {("blob", image.id), ("blob", image.manifest_digest)}
            for entry in store_images.image_layers(store, image.id):
                parts.add(("blob", entry.blob_digest))
            parts |= {("layer", c) for c in _chain(store, image.top_chain)}
            self.image_parts[image.id] = parts
        self.used_images = {Digest.parse(c.image_id) for c in self.containers if c.image_id}
        self.pinned: set[tuple[str, Digest]] = set()  # what containers and leases keep
        for (parent,) in store.db.execute("SELECT parent FROM snapshots WHERE parent IS NOT NULL"):
            self.pinned |= {("layer", c) for c in _chain(store, Digest.parse(parent))}
        for kind, ref in store.db.execute("SELECT kind, ref FROM lease_resources"):
            self.pinned.add((kind, Digest.parse(ref)))
        self.cache_parts: set[tuple[str, Digest]] = set()
        for (chain,) in store.db.execute(
            "SELECT chain_id FROM build_cache WHERE chain_id IS NOT NULL"
        ):
            self.cache_parts |= {("layer", c) for c in _chain(store, Digest.parse(chain))}

    def bytes_of(self, parts: set[tuple[str, Digest]]) -> int:
        return sum(
            (self.layer_bytes if kind == "layer" else self.blob_bytes).get(ref, 0)
            for kind, ref in parts
        )

    def images(self) -> list[Item]:
        out = []
        for image_id, parts in self.image_parts.items():
            others = set().union(*(p for i, p in self.image_parts.items() if i != image_id))
            out.append(
                Item(
                    "image",
                    str(image_id),
                    self.bytes_of(parts),
                    self.bytes_of(parts & others),
                    image_id in self.used_images,
                    image_id not in self.used_images,
                )
            )
        return out

    def image_reclaimable(self, only: set[Digest] | None = None) -> int:
        """Bytes freed by removing the unused images (or just `only` of them)."""
        doomed = {i for i in self.image_parts if i not in self.used_images}
        if only is not None:
            doomed &= only
        kept = set().union(*(p for i, p in self.image_parts.items() if i not in doomed))
        kept |= self.pinned | self.cache_parts
        freed = set().union(*(self.image_parts[i] for i in doomed)) - kept
        return self.bytes_of(freed)

    def cache_reclaimable(self) -> int:
        kept = set().union(*self.image_parts.values()) | self.pinned
        return self.bytes_of(self.cache_parts - kept)

    def container_items(self) -> list[Item]:
        return [
            Item(
                "container",
                c.name,
                container_usage(self.store, c.id),
                active=c.state.status == RUNNING,
                reclaimable=c.state.status != RUNNING,
                detail={"id": c.id, "image": c.image_ref, "status": c.state.status},
            )
            for c in self.containers
        ]

    def volume_items(self) -> list[Item]:
        users = volume_users(self.store)
        return [
            Item(
                "volume",
                v.name,
                tree_usage(os.path.dirname(v.mountpoint)).size,
                active=v.name in users,
                reclaimable=v.name not in users,
                detail={"links": len(users.get(v.name, []))},
            )
            for v in list_volumes(self.store)
        ]

    def summary(self) -> list[Summary]:
        """docker system df's four lines."""
        imgs = self.images()
        cons = self.container_items()
        vols = self.volume_items()
        cache_size = self.cache_reclaimable()
        all_image_parts = set().union(*self.image_parts.values()) if self.image_parts else set()
        n_cache = self.store.db.execute("SELECT COUNT(*) FROM build_cache").fetchone()[0]
        return [
            Summary(
                "Images",
                len(imgs),
                sum(i.active for i in imgs),
                self.bytes_of(all_image_parts),
                self.image_reclaimable(),
            ),
            _summed("Containers", cons),
            _summed("Local Volumes", vols),
            Summary("Build Cache", n_cache, 0, cache_size, cache_size),
        ]
