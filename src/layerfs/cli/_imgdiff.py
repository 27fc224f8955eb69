"""`layerfs diff IMAGE1 IMAGE2` and `layerfs diff --layer DIGEST1 DIGEST2`: the image and
layer forms of `diff` (cli/container_info.py keeps the one-container form and calls
`run` for these)."""

from __future__ import annotations

import contextlib

import click

from layerfs.analysis.imgdiff import ImageDiff, diff_images, diff_layers
from layerfs.analysis.sources import find_layer, open_source
from layerfs.cli._common import emit_json, emit_table, human_size
from layerfs.store.store import Store


def _signed(n: int) -> str:
    return ("+" if n > 0 else "-" if n < 0 else "") + human_size(abs(n))


def run(old: str, new: str, layers: bool, as_json: bool, root: str | None) -> None:
    """Compute and print the diff of two images (any source names) or two stored layers."""
    if layers:
        with Store.open(root) as store:
            result = diff_layers(find_layer(store, old), find_layer(store, new))
    else:
        with contextlib.ExitStack() as stack:
            a = stack.enter_context(open_source(old, store_root=root))
            b = stack.enter_context(open_source(new, store_root=root))
            result = diff_images(a, b, old, new)
    show(result, as_json)


def show(result: ImageDiff, as_json: bool) -> None:
    if as_json:
        emit_json(result.to_dict())
        return
    emit_table([{"kind": c.kind, "old": "" if c.kind == "A" else human_size(c.old_size),
                 "new": "" if c.kind == "D" else human_size(c.new_size),
                 "delta": _signed(c.delta), "path": c.path + ("/" if c.is_dir else "")}
                for c in result.changes], ["kind", "old", "new", "delta", "path"])
    click.echo(f"\nadded {_signed(result.total('A'))}, changed {_signed(result.total('C'))}, "
               f"deleted {_signed(result.total('D'))}; total {_signed(result.total())} "
               f"({result.total()} bytes) from {result.old} to {result.new}")
