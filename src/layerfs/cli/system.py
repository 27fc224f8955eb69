"""`system df [-v]` and `system prune [-a] [--volumes]`: where the bytes are, and
getting them back. Reclaimable is exactly what the prune frees (see runtime.sizes)."""

from __future__ import annotations

import click

from layerfs.cli._common import emit, emit_json, human_size, json_option
from layerfs.cli._store import open_store, root_option
from layerfs.runtime.prune import system_prune
from layerfs.runtime.sizes import Accounting, Item


@click.group("system")
def system_group() -> None:
    """Manage the store as a whole (docker system ...)."""


def _pct(part: int, whole: int) -> str:
    return f"{human_size(part)} ({100 * part // whole if whole else 0}%)"


def _items(items: list[Item], columns: list[str]) -> None:
    rows = [
        {
            "name": i.name.removeprefix("sha256:")[:12] if i.kind == "image" else i.name,
            "size": human_size(i.size),
            "shared size": human_size(i.shared),
            "unique size": human_size(i.size - i.shared),
            "active": "yes" if i.active else "no",
            "links": i.detail.get("links", ""),
            "status": i.detail.get("status", ""),
            "image": i.detail.get("image", ""),
        }
        for i in items
    ]
    emit(rows, columns, False)


@system_group.command("df")
@click.option("-v", "--verbose", is_flag=True, help="Show each image, container and volume.")
@json_option
@root_option
def df_cmd(verbose: bool, as_json: bool, root: str | None) -> None:
    """Show disk usage: TYPE TOTAL ACTIVE SIZE RECLAIMABLE for images, containers, local
    volumes and build cache. Sizes are bytes on disk; a layer shared by several images
    counts once (SHARED SIZE with -v); RECLAIMABLE is what `system prune -a --volumes`
    frees (unused images, stopped containers, unused volumes, the build cache).

    \b
    Example:
      layerfs system df -v
    """
    with open_store(root) as store:
        acct = Accounting(store)
        summary = acct.summary()
        images = acct.images() if verbose or as_json else []
        cons = acct.container_items() if verbose or as_json else []
        vols = acct.volume_items() if verbose or as_json else []
    if as_json:
        emit_json(
            {
                "summary": [s.__dict__ for s in summary],
                "images": [i.__dict__ for i in images],
                "containers": [i.__dict__ for i in cons],
                "volumes": [i.__dict__ for i in vols],
            }
        )
        return
    rows = [
        {
            "type": s.kind,
            "total": s.total,
            "active": s.active,
            "size": human_size(s.size),
            "reclaimable": _pct(s.reclaimable, s.size),
        }
        for s in summary
    ]
    emit(rows, ["type", "total", "active", "size", "reclaimable"], False)
    if verbose:
        click.echo("\nImages space usage:\n")
        _items(images, ["name", "size", "shared size", "unique size", "active"])
        click.echo("\nContainers space usage:\n")
        _items(cons, ["name", "image", "size", "status"])
        click.echo("\nLocal Volumes space usage:\n")
        _items(vols, ["name", "links", "size"])


@system_group.command("prune")
@click.option(
    "-a",
    "--all",
    "all_images",
    is_flag=True,
    help="Remove all unused images, not just dangling ones.",
)
@click.option("--volumes", is_flag=True, help="Prune unused volumes too.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@root_option
def prune_cmd(all_images: bool, volumes: bool, force: bool, root: str | None) -> None:
    """Remove stopped containers, dangling (-a: all unused) images, the build cache and,
    with --volumes, unused volumes; prints what went and the space reclaimed.

    \b
    Example:
      layerfs system prune -a --volumes -f
    """
    if not force:
        click.confirm(
            "WARNING! This will remove unused data. Are you sure you want to continue?", abort=True
        )
    with open_store(root) as store:
        result = system_prune(store, all_images=all_images, volumes=volumes)
    for title, names in (
        ("Deleted Containers:", result.containers),
        ("Deleted Volumes:", result.volumes),
        (
            "Deleted Images:",
            [f"untagged: {n}" for n in result.untagged] + [f"deleted: {n}" for n in result.images],
        ),
    ):
        if names:
            click.echo(title)
            for name in names:
                click.echo(name)
            click.echo("")
    if result.cache:
        click.echo(f"Deleted build cache objects: {result.cache}\n")
    click.echo(f"Total reclaimed space: {human_size(result.freed)}")


COMMANDS = [system_group]
