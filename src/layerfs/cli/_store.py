"""Shared CLI plumbing for commands that use the local store: `--root`, opening it, and
the hooks through which docker's multi-noun commands (`inspect`, `export`) reach objects
that other cli modules own.

Hooks: a cli module may define
  `INSPECT(store, ref, kind) -> dict | None`  (docker-inspect object, None: not mine;
                                               `kind` is `--type` or None)
  `EXPORT(store, ref, out) -> bool`          (wrote `ref`'s tar to `out`; False: not mine)
`inspect` and `export` try these first (docker looks at containers before images) and
images last.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

import layerfs.cli
from layerfs.store.store import Store

F = TypeVar("F", bound=Callable[..., Any])


def root_option(f: F) -> F:
    """`--root DIR` on a command (the group's `layerfs --root DIR` works as well)."""
    return click.option(
        "--root",
        "root",
        metavar="DIR",
        default=None,
        help="Store root (default: $LAYERFS_ROOT, else ~/.local/share/layerfs).",
    )(f)


@contextlib.contextmanager
def open_store(root: str | None) -> Iterator[Store]:
    """The store at `root` (None: the default root), closed on exit."""
    store = Store.open(root)
    try:
        yield store
    finally:
        store.close()


def hooks(name: str) -> list[Callable[..., Any]]:
    """The `name` hook ("INSPECT", "EXPORT") of every other cli module that has one."""
    found: list[Callable[..., Any]] = []
    for info in sorted(pkgutil.iter_modules(layerfs.cli.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name == "main":
            continue
        hook = getattr(importlib.import_module(f"layerfs.cli.{info.name}"), name, None)
        if callable(hook):
            found.append(hook)
    return found
