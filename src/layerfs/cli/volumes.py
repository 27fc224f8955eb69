"""`volume create|ls|inspect|rm|prune`: named volumes under <root>/volumes/<name>/_data."""

from __future__ import annotations

import sys

import click

from layerfs.cli._common import emit, emit_json, human_size, json_option
from layerfs.cli._gotemplate import render
from layerfs.cli._store import open_store, root_option
from layerfs.errors import Conflict, NotFound
from layerfs.runtime.volumes import (
    create_volume,
    get_volume,
    list_volumes,
    prune_volumes,
    remove_volume,
)


@click.group("volume")
def volume_group() -> None:
    """Manage volumes: directories mounted into containers past the union file system,
    which outlive the containers (docker volume ...)."""


@volume_group.command("create")
@click.argument("name", required=False)
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Set a label.")
@root_option
def create_cmd(name: str | None, labels: tuple[str, ...], root: str | None) -> None:
    """Create a volume (a random name when none is given); prints its name.

    \b
    Example:
      layerfs volume create dbdata
    """
    with open_store(root) as store:
        v = create_volume(store, name or "", dict(lb.partition("=")[::2] for lb in labels))
    click.echo(v.name)


@volume_group.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only show volume names.")
@json_option
@root_option
def ls_cmd(quiet: bool, as_json: bool, root: str | None) -> None:
    """List volumes: DRIVER VOLUME NAME."""
    with open_store(root) as store:
        volumes = list_volumes(store)
    if quiet:
        for v in volumes:
            click.echo(v.name)
        return
    if as_json:
        emit_json([v.inspect() for v in volumes])
        return
    emit(
        [{"driver": "local", "volume name": v.name} for v in volumes],
        ["driver", "volume name"],
        False,
    )


@volume_group.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.option(
    "-f", "--format", "fmt", metavar="TEMPLATE", help="Go template, e.g. {{.Mountpoint}}."
)
@root_option
def inspect_cmd(names: tuple[str, ...], fmt: str | None, root: str | None) -> None:
    """Show volumes as docker does (CreatedAt, Driver, Labels, Mountpoint, Name...)."""
    with open_store(root) as store:
        found = [get_volume(store, n).inspect() for n in names]
    if fmt:
        for obj in found:
            click.echo(render(fmt, obj))
    else:
        emit_json(found)


@volume_group.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Remove even while a container uses it.")
@root_option
def rm_cmd(names: tuple[str, ...], force: bool, root: str | None) -> None:
    """Remove volumes (refused while a container, even a stopped one, uses them)."""
    failed = False
    with open_store(root) as store:
        for name in names:
            try:
                remove_volume(store, name, force=force)
                click.echo(name)
            except (Conflict, NotFound) as e:
                click.echo(f"layerfs: error: {e}", err=True)
                failed = True
    if failed:
        sys.exit(1)


@volume_group.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@root_option
def prune_cmd(force: bool, root: str | None) -> None:
    """Remove every volume no container uses; prints them and the space reclaimed."""
    if not force:
        click.confirm(
            "WARNING! This will remove all local volumes not used by at least one"
            " container. Continue?",
            abort=True,
        )
    with open_store(root) as store:
        names, freed = prune_volumes(store)
    if names:
        click.echo("Deleted Volumes:")
        for name in names:
            click.echo(name)
        click.echo("")
    click.echo(f"Total reclaimed space: {human_size(freed)}")


COMMANDS = [volume_group]
