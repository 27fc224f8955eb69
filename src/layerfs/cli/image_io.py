"""Images in and out of the store as plain root file systems: import and export."""

from __future__ import annotations

import os
import sys
from typing import BinaryIO

import click

from layerfs.cli._store import hooks, open_store, root_option
from layerfs.store.export import export_image
from layerfs.store.rootfs import import_rootfs
from layerfs.store.store import Store


@click.command("import")
@click.argument("source")
@click.argument("name", required=False)
@click.option("-m", "--message", help="Comment of the history entry.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID.")
@click.option("--keep-privileged", is_flag=True,
              help="Keep setuid/setgid bits, security.capability and overlay xattrs of a"
                   " tar (dropped by default; a directory keeps them).")
@root_option
def import_cmd(
    source: str, name: str | None, message: str | None, quiet: bool, keep_privileged: bool,
    root: str | None,
) -> None:
    """Make a one-layer image from a root file system tar (plain, gzip, zstd), a
    directory, or `-` (a tar on stdin), like podman import. Prints the image ID.

    \b
    Examples:
      layerfs import rootfs.tar mybase:1.0
      tar -C rootfs -c . | layerfs import - mybase
    """
    with open_store(root) as store:
        src = sys.stdin.buffer if source == "-" else source
        record = import_rootfs(
            store, src, [name] if name else [], message=message,
            keep_privileged=True if keep_privileged else None,
            note=lambda line: click.echo(f"note: {line}", err=True),
        )
    click.echo(str(record.id) if quiet else f"{record.id}")


def _export(store: Store, ref: str, out: BinaryIO) -> None:
    for hook in hooks("EXPORT"):
        if hook(store, ref, out):
            return
    export_image(store, ref, out)


@click.command("export")
@click.argument("image")
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of stdout.")
@root_option
def export_cmd(image: str, output: str | None, root: str | None) -> None:
    """Write an image's flattened root file system (the union of its layers) as a tar
    (containers too, where their module provides the EXPORT hook).

    \b
    Example:
      layerfs export busybox -o rootfs.tar
    """
    if output is None and sys.stdout.isatty():
        raise click.UsageError("refusing to write a tar to a terminal: use -o FILE")
    with open_store(root) as store:
        if output is None:
            _export(store, image, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        tmp = f"{output}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as out:
                _export(store, image, out)
            os.replace(tmp, output)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


COMMANDS = [import_cmd, export_cmd]
