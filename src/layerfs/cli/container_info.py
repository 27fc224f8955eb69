"""What containers hold and show: ps, logs, diff, commit, container prune/ls, and the
`inspect CONTAINER` / `export CONTAINER` hooks of the shared inspect and export commands.
"""

from __future__ import annotations

import sys
import time
from typing import Any, BinaryIO

import click

from layerfs.cli._common import emit_json, emit_table, human_size, json_option
from layerfs.cli._gotemplate import render
from layerfs.cli._humantime import human_duration
from layerfs.cli._store import open_store, root_option
from layerfs.runtime import containers as records
from layerfs.runtime.containers import CREATED, DEAD, RUNNING, Container
from layerfs.runtime.filesystem import (
    commit_container,
    container_changes,
    export_container,
    inspect_container,
)
from layerfs.runtime.lifecycle import refresh
from layerfs.runtime.prune import prune_containers
from layerfs.runtime.sizes import ps_size
from layerfs.store.store import Store


def status_text(c: Container, now: float | None = None) -> str:
    """docker's STATUS column: "Up 5 seconds", "Exited (0) 2 minutes ago", "Created"."""
    now = time.time() if now is None else now
    if c.state.status == RUNNING:
        return f"Up {human_duration(now - c.state.started_at)}"
    if c.state.status == CREATED:
        return "Created"
    if c.state.status == DEAD:
        return "Dead"
    code = "unknown" if c.state.exit_code is None else c.state.exit_code
    return f"Exited ({code}) {human_duration(now - c.state.finished_at)} ago"


def _matches(c: Container, filters: tuple[str, ...]) -> bool:
    for f in filters:
        key, _, value = f.partition("=")
        if key == "name" and value.lstrip("/") not in c.name:
            return False
        if key == "id" and not c.id.startswith(value):
            return False
        if key == "status" and c.state.status != value:
            return False
        if key == "ancestor" and value not in (c.image_ref, c.image_id):
            return False
        if key not in ("name", "id", "status", "ancestor"):
            raise click.BadParameter(f"invalid filter {key!r}", param_hint="--filter")
    return True


def _row(store: Store, c: Container, size: bool, no_trunc: bool) -> dict[str, Any]:
    command = " ".join(c.config.args)
    if not no_trunc and len(command) > 20:
        command = command[:19] + "…"
    row: dict[str, Any] = {
        "ID": c.id if no_trunc else c.short_id,
        "Image": c.image_ref,
        "Command": f'"{command}"',
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(c.created)),
        "RunningFor": f"{human_duration(time.time() - c.created)} ago",
        "Status": status_text(c),
        "State": c.state.status,
        "Ports": "",
        "Names": c.name,
    }
    if size:
        rw, virtual = ps_size(store, c)
        row |= {"SizeRw": rw, "SizeRootFs": virtual}
        row["Size"] = f"{human_size(rw)} (virtual {human_size(virtual)})"
    return row


@click.command("ps")
@click.option(
    "-a", "--all", "show_all", is_flag=True, help="Show all containers (default: running)."
)
@click.option(
    "-s",
    "--size",
    is_flag=True,
    help="Show SIZE: the writable layer's bytes (files in the upper dir, as docker's"
    " SizeRw), and (virtual N) = the image's size + the writable layer (docker's"
    " definition; podman's virtual is the image alone).",
)
@click.option(
    "-f",
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="name=, id=, status=, ancestor=.",
)
@click.option("-q", "--quiet", is_flag=True, help="Only show container IDs.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output.")
@click.option(
    "--format", "fmt", metavar="TEMPLATE", help="Go template per container, e.g. {{.Names}}."
)
@json_option
@root_option
def ps_cmd(
    show_all: bool,
    size: bool,
    filters: tuple[str, ...],
    quiet: bool,
    no_trunc: bool,
    fmt: str | None,
    as_json: bool,
    root: str | None,
) -> None:
    """List containers: CONTAINER ID IMAGE COMMAND CREATED STATUS PORTS NAMES [SIZE].

    \b
    Example:
      layerfs ps -s --filter name=test-overlay
    """
    with open_store(root) as store:
        chosen = []
        for c in records.list_containers(store):
            c = refresh(store, c)
            if (show_all or c.state.status == RUNNING) and _matches(c, filters):
                chosen.append(_row(store, c, size, no_trunc))
    if as_json:
        emit_json(chosen)
    elif quiet:
        for row in chosen:
            click.echo(row["ID"])
    elif fmt:
        for row in chosen:
            click.echo(render(fmt, row))
    else:
        cols = ["container id", "image", "command", "created", "status", "ports", "names"]
        table = [
            {
                "container id": r["ID"],
                "image": r["Image"],
                "command": r["Command"],
                "created": r["RunningFor"],
                "status": r["Status"],
                "ports": r["Ports"],
                "names": r["Names"],
                "size": r.get("Size"),
            }
            for r in chosen
        ]
        emit_table(table, cols + (["size"] if size else []))


@click.command("logs")
@click.argument("container")
@click.option("-f", "--follow", is_flag=True, help="Follow the output until the container stops.")
@click.option("-n", "--tail", default="all", help="Number of lines from the end (or 'all').")
@root_option
def logs_cmd(container: str, follow: bool, tail: str, root: str | None) -> None:
    """Print what the container wrote on stdout and stderr (containers/<id>/container.log).

    \b
    Example:
      layerfs logs -f web
    """
    with open_store(root) as store:
        c = records.resolve(store, container)
        path = records.path_of(store, c.id, records.LOG)
        out = sys.stdout.buffer
        try:
            f = open(path, "rb")  # noqa: SIM115 (closed below, followed while open)
        except FileNotFoundError:
            return
        with f:
            data = f.read()
            if tail != "all":
                lines = data.splitlines(keepends=True)
                data = b"".join(lines[-int(tail) :]) if int(tail) > 0 else b""
            out.write(data)
            out.flush()
            while follow:
                chunk = f.read()
                if chunk:
                    out.write(chunk)
                    out.flush()
                    continue
                if refresh(store, records.read(store, c.id)).state.status != RUNNING:
                    out.write(f.read())
                    break
                time.sleep(0.2)


@click.command("diff")
@click.argument("container")
@click.argument("other", required=False)
@click.option("--layer", "layers", is_flag=True,
              help="CONTAINER and OTHER are layer digests (of stored images): diff them.")
@click.option(
    "--rules",
    type=click.Choice(["docker", "podman"]),
    default="docker",
    show_default=True,
    help="podman: also list files copied up without a change (as podman diff does).",
)
@json_option
@root_option
def diff_cmd(container: str, other: str | None, layers: bool, rules: str, as_json: bool,
             root: str | None) -> None:
    """Show the changes of the container's writable layer: A (added), C (changed), D
    (deleted), with docker's rules (changed parents listed as C, a deleted dir's
    children not listed; the runtime's /etc/hosts, /etc/hostname, /etc/resolv.conf and
    mount points hidden). With two images (any transport names) or `--layer` and two
    layer digests: their file-level diff with sizes, deltas and a total.

    \b
    Examples:
      layerfs diff test-overlay
      layerfs diff app:1 app:2
      layerfs diff --layer 3f4e 9a1b
    """
    if other is not None or layers:
        if other is None:
            raise click.UsageError("--layer takes two layer digests")
        from layerfs.cli import _imgdiff  # the image forms: loaded only when used

        _imgdiff.run(container, other, layers, as_json, root)
        return
    with open_store(root) as store:
        items = container_changes(store, records.resolve(store, container), rules)
    if as_json:
        emit_json([{"Kind": ch.kind, "Path": ch.path} for ch in items])
        return
    for ch in items:
        click.echo(str(ch))


@click.command("commit")
@click.argument("container")
@click.argument("repository", required=False)
@click.option("-m", "--message", default="", help="Commit message.")
@click.option("-a", "--author", default="", help="Author.")
@root_option
def commit_cmd(
    container: str, repository: str | None, message: str, author: str, root: str | None
) -> None:
    """Make a new image from the container's changes (one layer on its image); prints
    the image ID.

    \b
    Example:
      layerfs commit test-overlay mybox:with-bigfile
    """
    with open_store(root) as store:
        c = records.resolve(store, container)
        record = commit_container(
            store, c, [repository] if repository else [], message=message, author=author
        )
    click.echo(str(record.id))


@click.group("container")
def container_group() -> None:
    """Manage containers (docker container ...)."""


@container_group.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@root_option
def container_prune_cmd(force: bool, root: str | None) -> None:
    """Remove all stopped containers; prints their IDs and the space reclaimed."""
    if not force:
        click.confirm("WARNING! This will remove all stopped containers. Continue?", abort=True)
    with open_store(root) as store:
        result = prune_containers(store)
    if result.containers:
        click.echo("Deleted Containers:")
        for cid in result.containers:
            click.echo(cid)
        click.echo("")
    click.echo(f"Total reclaimed space: {human_size(result.freed)}")


container_group.add_command(ps_cmd, "ls")


def INSPECT(store: Store, ref: str, kind: str | None) -> dict[str, Any] | None:
    """The inspect hook: a container named `ref` (None when there is none)."""
    if kind not in (None, "container"):
        return None
    c = records.find(store, ref)
    return None if c is None else inspect_container(store, refresh(store, c))


def EXPORT(store: Store, ref: str, out: BinaryIO) -> bool:
    """The export hook: write container `ref`'s file system; False if no such container."""
    c = records.find(store, ref)
    if c is None:
        return False
    export_container(store, c, out)
    return True


COMMANDS = [ps_cmd, logs_cmd, diff_cmd, commit_cmd, container_group]
