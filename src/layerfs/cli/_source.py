"""Shared CLI plumbing for the analysis commands: the options naming where an image is
(`--source`, `--storage-root`, `--tls-verify`, `--root`) and opening it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

from layerfs.analysis.sources import CONTAINERS_ROOT, SOURCES, open_source, with_source
from layerfs.oci.image import Image

F = TypeVar("F", bound=Callable[..., Any])


def source_options(f: F) -> F:
    """`--source`, `--storage-root`, `--tls-verify` and `--root` on an analysis command."""
    f = click.option("--source", type=click.Choice(sorted(SOURCES)), default=None,
                     help="Where IMAGE is, in dive's words (docker, podman, docker-archive) "
                          "or ours; default: IMAGE's own transport prefix, else the store.")(f)
    f = click.option("--storage-root", metavar="DIR", default=None,
                     help="The engine storage dir for docker-overlay2:/containers-storage: "
                          "names (default /var/lib/docker, /var/lib/containers/storage).")(f)
    f = click.option("--tls-verify", type=click.BOOL, default=True, show_default=True,
                     help="Verify TLS for docker:// sources.")(f)
    f = click.option("--verify", is_flag=True,
                     help="Read every layer whole and verify its diff_id (default: the plain "
                          "layers of a docker-archive are listed from their headers).")(f)
    f = click.option("--root", "root", metavar="DIR", default=None,
                     help="Store root (default: $LAYERFS_ROOT, else ~/.local/share/layerfs).")(f)
    return f


@contextlib.contextmanager
def opened(image: str, source: str | None, storage_root: str | None, tls_verify: bool,
           root: str | None, verify: bool = False) -> Iterator[Image]:
    """The image named on the command line, open while the context lasts."""
    name = with_source(source, image)
    if source in ("podman", "containers-storage") and storage_root is None:
        storage_root = CONTAINERS_ROOT
    opts = None
    if not tls_verify:  # only docker:// names use it; its module is slow to import
        from layerfs.transports.locations import RegistryOptions

        opts = RegistryOptions(tls_verify=False)
    with open_source(name, store_root=root, storage_root=storage_root, opts=opts,
                     verify=verify) as img:
        yield img
