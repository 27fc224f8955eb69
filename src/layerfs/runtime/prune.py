"""Prune: remove what nothing needs and say how many bytes on disk that freed.

The freed figures are measured on what really went (the layer dirs and blobs that no
longer exist afterwards, the container and volume dirs removed), in the same unit as
`system df`'s reclaimable column (sizes.Accounting), so the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from layerfs.digest import Digest
from layerfs.runtime.containers import RUNNING, list_containers
from layerfs.runtime.lifecycle import refresh, remove_after_exit
from layerfs.runtime.sizes import Accounting, container_usage
from layerfs.runtime.volumes import prune_volumes
from layerfs.store import gc

if TYPE_CHECKING:
    from layerfs.store.store import Store


@dataclass(frozen=True)
class PruneResult:
    """What a prune removed (docker prints each list) and the bytes it freed."""

    containers: tuple[str, ...] = ()
    untagged: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    cache: int = 0
    freed: int = 0
    parts: dict[str, int] = field(default_factory=dict, hash=False)


def _present(store: Store) -> set[tuple[str, Digest]]:
    return {("layer", r.chain_id) for r in store.layers()} | {
        ("blob", d) for d in store.blobs.digests()
    }


def prune_containers(store: Store) -> PruneResult:
    """`docker container prune`: every container that is not running."""
    removed: list[str] = []
    freed = 0
    for c in list_containers(store):
        c = refresh(store, c)
        if c.state.status == RUNNING:
            continue
        size = container_usage(store, c.id)
        remove_after_exit(store, c.id)
        removed.append(c.id)
        freed += size
    return PruneResult(containers=tuple(removed), freed=freed)


def prune_images(store: Store, *, all_unused: bool) -> PruneResult:
    """`docker image prune [-a]`: dangling (untagged) images no container uses, or with
    `all_unused` every image no container uses; then unreferenced layers and blobs."""
    acct = Accounting(store)
    before = _present(store)
    doomed = [
        image
        for image in store.images()
        if image.id not in acct.used_images and (all_unused or not image.tags)
    ]
    untagged: list[str] = []
    deleted: list[str] = []
    for image in doomed:
        result = store.remove_images([str(image.id)], force=True)
        untagged += result.untagged
        deleted += [str(d) for d in result.deleted]
    gc.collect(store)
    freed = acct.bytes_of(before - _present(store))
    return PruneResult(untagged=tuple(untagged), images=tuple(deleted), freed=freed)


def prune_build_cache(store: Store, *, all_entries: bool) -> PruneResult:
    """`docker builder prune [-a]`: cache entries whose layer no image uses (all with
    `all_entries`), then what only they kept."""
    acct = Accounting(store)
    before = _present(store)
    with store.lock:
        with store.transaction() as db:
            if all_entries:
                n = db.execute("DELETE FROM build_cache").rowcount
            else:
                n = db.execute(
                    "DELETE FROM build_cache WHERE chain_id IS NULL OR chain_id NOT IN"
                    " (SELECT chain_id FROM image_layers)"
                ).rowcount
        gc.collect(store)
    return PruneResult(cache=n, freed=acct.bytes_of(before - _present(store)))


def system_prune(store: Store, *, all_images: bool, volumes: bool) -> PruneResult:
    """`docker system prune [-a] [--volumes]`: stopped containers, then (dangling or
    all unused) images, build cache, and with `volumes` the unused volumes."""
    cons = prune_containers(store)
    imgs = prune_images(store, all_unused=all_images)
    cache = prune_build_cache(store, all_entries=all_images)
    names: list[str] = []
    vol_freed = 0
    if volumes:
        names, vol_freed = prune_volumes(store)
    parts = {
        "containers": cons.freed,
        "images": imgs.freed,
        "build cache": cache.freed,
        "volumes": vol_freed,
    }
    return PruneResult(
        containers=cons.containers,
        untagged=imgs.untagged,
        images=imgs.images,
        volumes=tuple(names),
        cache=cache.cache,
        freed=sum(parts.values()),
        parts=parts,
    )
