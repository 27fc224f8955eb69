"""`--squash`: the layers above the base image merged into one.

The merged tree of the layers above the base (a read-only UnionView of them) is copied
into a fresh upper dir, and every path of the base that the full image no longer shows
gets a whiteout there; so base + squashed layer shows exactly what base + the separate
layers showed. The base's layers stay shared; history keeps every step (the squashed
ones marked `empty_layer`) and adds one entry for the merged layer. The cache keeps the
unsquashed steps, so a later build (squashed or not) reuses them.
"""

from __future__ import annotations

import os
import stat

from layerfs.build.cache import LayerRef, StepResult
from layerfs.build.filesteps import LayerContext
from layerfs.oci.history import HistoryEntry
from layerfs.store.commit import created_now, layer_from_upper
from layerfs.union import whiteouts as wh
from layerfs.union.view import UnionView

_CHUNK = 1 << 20


def _copy_entry(view: UnionView, path: str, dest: str) -> None:
    st = view.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        os.mkdir(dest, 0o700)
        for name in view.listdir(path):
            _copy_entry(view, os.path.join(path, name), os.path.join(dest, name))
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(view.readlink(path), dest)
    elif stat.S_ISREG(st.st_mode):
        with open(view.lookup(path).realpath, "rb") as src, open(dest, "xb") as out:
            while chunk := src.read(_CHUNK):
                out.write(chunk)
    else:
        os.mknod(dest, st.st_mode, st.st_rdev)
    os.lchown(dest, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dest, stat.S_IMODE(st.st_mode))
    os.utime(dest, ns=(st.st_mtime_ns, st.st_mtime_ns), follow_symlinks=False)


def _whiteouts(base: UnionView, full: UnionView, path: str, out: str, fmt: wh.WhiteoutFormat
               ) -> None:
    for name in base.listdir(path):
        child = os.path.join(path, name)
        target = os.path.join(out, path.lstrip("/"))
        if not full.exists(child):
            if not os.path.isdir(target):
                os.makedirs(target, 0o755, exist_ok=True)
                st = full.lstat(path)
                os.chmod(target, stat.S_IMODE(st.st_mode))
                os.lchown(target, st.st_uid, st.st_gid)
            wh.make_whiteout(target, name, fmt)
            continue
        if stat.S_ISDIR(base.lstat(child).st_mode) and stat.S_ISDIR(full.lstat(child).st_mode):
            _whiteouts(base, full, child, out, fmt)


def _fix_dir_times(view: UnionView, out: str) -> None:
    for dirpath, _dirs, _files in sorted(os.walk(out), key=lambda t: -t[0].count("/")):
        rel = "/" + os.path.relpath(dirpath, out).removeprefix(".")
        if view.exists(rel):
            st = view.lstat(rel)
            os.utime(dirpath, ns=(st.st_mtime_ns, st.st_mtime_ns))


def squash(ctx: LayerContext, result: StepResult, base_layers: int) -> StepResult:
    """`result` with its layers above the first `base_layers` merged into one (the
    result itself when there is at most one such layer)."""
    base, above = result.layers[:base_layers], result.layers[base_layers:]
    if len(above) <= 1:
        return result
    dirs = [ctx.store.paths.layer_diff(lr.chain_id) for lr in reversed(above)]
    base_dirs = [ctx.store.paths.layer_diff(lr.chain_id) for lr in reversed(base)]
    upper = ctx.ingest.temp_dir("squash")
    os.rmdir(upper)
    top = UnionView(dirs)
    full = UnionView(dirs + base_dirs)
    _copy_entry(top, "/", upper)
    if base_dirs:
        _whiteouts(UnionView(base_dirs), full, "/", upper, ctx.store.whiteout_format)
    _fix_dir_times(full, upper)
    parent = base[-1].chain_id if base else None
    new = layer_from_upper(ctx.store, ctx.ingest, upper, parent,
                           source_date_epoch=ctx.source_date_epoch)
    assert new.blob is not None
    created = created_now()
    config = result.config
    history = []
    layer_steps = 0
    for entry in config.history:
        if not entry.empty_layer:
            layer_steps += 1
            if layer_steps > base_layers:
                entry = HistoryEntry(entry.created, entry.created_by, True, entry.comment,
                                     entry.author)
        history.append(entry)
    history.append(HistoryEntry(created, f"layerfs build --squash: {len(above)} layers merged",
                                False, "layerfs build --squash"))
    config = config.replace(
        diff_ids=(*config.diff_ids[:base_layers], new.record.diff_id),
        history=tuple(history), created=created)
    ref = LayerRef(new.record.chain_id, new.record.diff_id, new.blob, new.blob_size,
                   new.media_type)
    return StepResult(config, (*base, ref))
