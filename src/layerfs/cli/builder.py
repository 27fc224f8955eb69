"""`builder prune [-a] [-f]`: clear the build cache (docker builder prune).

The bytes it frees are those `system df` shows as the Build Cache's RECLAIMABLE: the
layers only the cache keeps (runtime.prune.prune_build_cache, measured on what went).
"""

from __future__ import annotations

import click

from layerfs.cli._common import emit_json, human_size, json_option
from layerfs.cli._store import open_store, root_option
from layerfs.runtime.prune import prune_build_cache


@click.group("builder")
def builder_group() -> None:
    """Manage the build cache (docker builder ...)."""


@builder_group.command("prune")
@click.option(
    "-a",
    "--all",
    "all_entries",
    is_flag=True,
    help="Remove every cache entry, not just those whose layer no image uses.",
)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@json_option
@root_option
def prune_cmd(all_entries: bool, force: bool, as_json: bool, root: str | None) -> None:
    """Remove build cache entries whose layers no image uses (-a: every entry), then the
    layers nothing else keeps; prints how many entries went and the space reclaimed
    (what `system df` called the build cache's reclaimable). Later builds miss on the
    removed steps. Layers an image still uses stay either way.

    \b
    Example:
      layerfs builder prune -f
    """
    if not force:
        click.confirm(
            "WARNING! This will remove all dangling build cache. Are you sure you want to"
            " continue?" if not all_entries else
            "WARNING! This will remove all build cache. Are you sure you want to continue?",
            abort=True,
        )
    with open_store(root) as store:
        result = prune_build_cache(store, all_entries=all_entries)
    if as_json:
        emit_json({"entries": result.cache, "reclaimed": result.freed})
        return
    click.echo(f"Deleted build cache objects: {result.cache}")
    click.echo(f"Total reclaimed space: {human_size(result.freed)}")


COMMANDS = [builder_group]
