"""Shared CLI plumbing for commands that use the local store: `--root` and opening it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

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
