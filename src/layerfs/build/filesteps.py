"""The steps that make a layer: RUN (in a container) and COPY/ADD (written through a
UnionView, no mount). Each returns the new `StepResult`: the parent's layers plus one,
and the config with the diff_id and a history entry appended.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from layerfs.archive.apply import apply_tar
from layerfs.archive.compress import decompressed
from layerfs.build import copy as copying
from layerfs.build.cache import LayerRef, StepResult
from layerfs.build.output import check_layer_count
from layerfs.build.run import Output, RunExecutor, RunRequest
from layerfs.errors import InvalidInput
from layerfs.oci.history import HistoryEntry
from layerfs.runtime.filesystem import HIDDEN_FILES, HIDDEN_TREES, _own_attrs_changed
from layerfs.runtime.lifecycle import runtime_for
from layerfs.runtime.rootfs import umount_rootfs
from layerfs.store.commit import created_now, layer_from_upper
from layerfs.store.durable import remove_tree
from layerfs.store.lock import is_free
from layerfs.union.view import UnionView

if TYPE_CHECKING:
    from layerfs.store.ingest import Ingest
    from layerfs.store.store import Store


@dataclass(frozen=True)
class LayerContext:
    """What a layer step needs from the build: the store, the build's ingest (which
    leases every layer and blob made), SOURCE_DATE_EPOCH, where RUN output goes."""

    store: Store
    ingest: Ingest
    source_date_epoch: int | None
    output: Output


def _top(parent: StepResult) -> str | None:
    return str(parent.layers[-1].chain_id) if parent.layers else None


def _commit(ctx: LayerContext, parent: StepResult, upper: str, created_by: str) -> StepResult:
    check_layer_count(len(parent.layers) + 1)  # refuse before making the 500th layer
    top = parent.layers[-1].chain_id if parent.layers else None
    new = layer_from_upper(ctx.store, ctx.ingest, upper, top,
                           source_date_epoch=ctx.source_date_epoch)
    assert new.blob is not None
    created = created_now()
    entry = HistoryEntry(created=created, created_by=created_by, comment="layerfs build")
    config = parent.config.with_layer(new.record.diff_id, entry).replace(created=created)
    ref = LayerRef(new.record.chain_id, new.record.diff_id, new.blob, new.blob_size,
                   new.media_type)
    return StepResult(config, (*parent.layers, ref))


def run_step(ctx: LayerContext, parent: StepResult, executor: RunExecutor,
             request: RunRequest, created_by: str) -> StepResult:
    """RUN: a container on the parent layers; its upper dir becomes the layer."""
    key = f"build-{secrets.token_hex(8)}"
    snapshots = ctx.store.snapshots
    labels = {"build": created_by[:200], "lease": ctx.ingest.id}
    snapshots.prepare(key, _top(parent), labels=labels)
    try:
        executor.run(ctx.store, RunRequest(key, request.argv, request.env, request.workdir,
                                           request.user, request.network), ctx.output)
        upper = os.path.join(ctx.store.paths.snapshot(key), "upper")
        lowers = [ctx.store.paths.layer_diff(lr.chain_id) for lr in reversed(parent.layers)]
        drop_runtime_stubs(upper, lowers)
        return _commit(ctx, parent, upper, created_by)
    finally:
        snapshots.remove(key)


def drop_runtime_stubs(upper: str, lowers: list[str]) -> None:
    """Remove from a RUN's upper dir what the runtime made, not the command: the mount
    points of /proc, /sys, /dev and the bind targets /etc/hosts, /etc/hostname,
    /etc/resolv.conf (writes to those go to their mounts, never to the upper), then an
    /etc left empty whose attributes are the lower's (copied up only for them). BuildKit
    removes the mount stubs it created the same way."""
    for path in (*HIDDEN_FILES, *HIDDEN_TREES):
        full = upper + path
        if os.path.lexists(full):
            remove_tree(full)
    etc = upper + "/etc"
    if os.path.isdir(etc) and not os.listdir(etc):
        in_lowers = any(os.path.lexists(lower + "/etc") for lower in lowers)
        if not in_lowers or not _own_attrs_changed("/etc", upper, lowers):
            os.rmdir(etc)


def reap_stale_steps(store: Store) -> list[str]:
    """Remove the RUN snapshots (and their mounts) of builds that died (kill -9): those
    whose build's lease owner no longer holds its lock. The keys removed."""
    removed = []
    for info in list(store.snapshots.walk()):
        lease = info.labels.get("lease")
        if info.kind != "active" or "build" not in info.labels or not lease:
            continue
        if is_free(os.path.join(store.paths.ingest, f"{lease}.lock")):
            runtime_for(store).delete(info.name)  # its command may still run: runc kills it
            umount_rootfs(store, info.name)
            store.snapshots.remove(info.name)
            removed.append(info.name)
    return removed


def union_of(ctx: LayerContext, parent: StepResult, *, writable: bool) -> UnionView:
    """A UnionView of the parent layers (with a fresh upper/work in the ingest when
    `writable`); scratch gets one empty lower dir."""
    lowers = [ctx.store.paths.layer_diff(lr.chain_id) for lr in reversed(parent.layers)]
    if not lowers:
        lowers = [ctx.ingest.temp_dir("empty")]
    if not writable:
        return UnionView(lowers)
    return UnionView(lowers, ctx.ingest.temp_dir("upper"), ctx.ingest.temp_dir("work"),
                     whiteouts=ctx.store.whiteout_format)


def copy_step(ctx: LayerContext, parent: StepResult, items: list[copying.CopyItem],
              created_by: str) -> StepResult:
    """COPY/ADD: write the planned items through a UnionView into a fresh upper dir."""
    view = union_of(ctx, parent, writable=True)
    assert view.upperdir is not None
    copying.apply(view, items, extract=lambda tar: extract_tar(ctx, tar))
    return _commit(ctx, parent, view.upperdir, created_by)


def extract_tar(ctx: LayerContext, path: str) -> str:
    """ADD of a local archive: unpack it (safely: archive.apply_tar) into a temp dir."""
    dest = ctx.ingest.temp_dir("add")
    with open(path, "rb") as raw, decompressed(raw) as stream:
        apply_tar(stream, dest, fmt=ctx.store.whiteout_format)
    return dest


def is_url(src: str) -> bool:
    return src.startswith(("http://", "https://", "git@", "git://", "ssh://"))


def refuse_url(src: str) -> InvalidInput:
    return InvalidInput(
        f"ADD {src}: layerfs builds offline and never downloads; fetch it into the build"
        " context first and use COPY (or ADD of the local file)"
    )


def heredoc_files(ctx: LayerContext, docs: list[tuple[str, str]]) -> str:
    """COPY <<EOF: each heredoc as a file named by its word, in a temp dir."""
    root = ctx.ingest.temp_dir("heredoc")
    for name, content in docs:
        with open(os.path.join(root, name), "w") as f:
            f.write(content)
        os.chmod(os.path.join(root, name), 0o644)
    return root

