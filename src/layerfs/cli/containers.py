"""Container life-cycle commands (docker's words): create, run, start, stop, kill, exec, rm.

A container is a thin writable layer (an active snapshot) over its image's shared
layers, run by runc (or the chroot fallback) on the union mount of the two.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from layerfs.cli._store import open_store, root_option
from layerfs.errors import Conflict, LayerfsError
from layerfs.runtime import lifecycle
from layerfs.runtime.volumes import parse_volume

F = TypeVar("F", bound=Callable[..., Any])
_ARGS = {"ignore_unknown_options": True, "allow_interspersed_args": False}


def _create_options(f: F) -> F:
    """The options `create` and `run` share."""
    options = [
        click.option("--name", help="Assign a name to the container."),
        click.option(
            "-e",
            "--env",
            "env",
            multiple=True,
            metavar="KEY=VALUE",
            help="Set an environment variable.",
        ),
        click.option("-w", "--workdir", default="", help="Working directory inside the container."),
        click.option(
            "-u",
            "--user",
            default="",
            help="User: name|uid[:group|gid], from the image's /etc/passwd.",
        ),
        click.option(
            "-v",
            "--volume",
            "volumes",
            multiple=True,
            metavar="SRC:DST[:ro]",
            help="Bind a host dir (absolute SRC) or a named volume (NAME) at DST;"
            " DST alone: an anonymous volume.",
        ),
        click.option(
            "--network",
            type=click.Choice(["none", "host"]),
            default="none",
            show_default=True,
            help="none: a network namespace with loopback only; host: the host's network.",
        ),
        click.option("-i", "--interactive", is_flag=True, help="Keep stdin open."),
        click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-terminal."),
        click.option(
            "--rm", "auto_remove", is_flag=True, help="Remove the container when it exits."
        ),
        click.option("--entrypoint", default=None, help="Override the image's ENTRYPOINT."),
        click.argument("image"),
        click.argument("command", nargs=-1, type=click.UNPROCESSED),
        root_option,
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _create(store, opts: dict[str, Any]):  # type: ignore[no-untyped-def]
    entry = opts["entrypoint"]
    return lifecycle.create(
        store,
        opts["image"],
        opts["command"],
        name=opts["name"],
        env=opts["env"],
        workdir=opts["workdir"],
        user=opts["user"],
        tty=opts["tty"],
        stdin=opts["interactive"],
        network=opts["network"],
        volumes=[parse_volume(v) for v in opts["volumes"]],
        auto_remove=opts["auto_remove"],
        entrypoint=None if entry is None else ([entry] if entry else []),
    )


def _failed(e: Exception) -> None:
    click.echo(f"layerfs: error: {e}", err=True)
    sys.exit(125)


@click.command("create", context_settings=_ARGS)
@_create_options
def create_cmd(**opts: Any) -> None:
    """Create a container (its writable layer) from IMAGE without starting it; prints its ID.

    \b
    Example:
      layerfs create --name web busybox httpd -f
    """
    with open_store(opts["root"]) as store:
        c = _create(store, opts)
    click.echo(c.id)


@click.command("run", context_settings=_ARGS)
@click.option(
    "-d", "--detach", is_flag=True, help="Run in the background and print the container ID."
)
@_create_options
def run_cmd(detach: bool, **opts: Any) -> None:
    """Create and start a container; attached, exit with the command's status.

    The root file system is the union of the image's layers (shared, read-only) and the
    container's own writable layer (kernel overlay, else FUSE). The writable layer is
    ephemeral: `rm` deletes it; use volumes (-v) for data that must outlive it.

    \b
    Examples:
      layerfs run -d --name test-overlay busybox sleep 3600
      layerfs run --rm -v data:/var/lib/db busybox sh -c 'echo row >> /var/lib/db/t'
    """
    if opts["tty"] and not detach and not sys.stdin.isatty():
        raise click.UsageError("the input device is not a TTY (use -d -t, or leave out -t)")
    with open_store(opts["root"]) as store:
        c = _create(store, opts)
        try:
            if detach:
                lifecycle.start(store, c.id)
                click.echo(c.id)
                return
            final = lifecycle.run_attached(store, c)
        except (LayerfsError, RuntimeError) as e:
            if c.config.auto_remove:
                lifecycle.remove(store, c.id, force=True)
            _failed(e)
        if c.config.auto_remove:
            lifecycle.remove(store, c.id, force=True)
    code = final.state.exit_code
    sys.exit(255 if code is None else code)


@click.command("start")
@click.argument("containers", nargs=-1, required=True)
@root_option
def start_cmd(containers: tuple[str, ...], root: str | None) -> None:
    """Start stopped containers (detached); prints each name given.

    \b
    Example:
      layerfs start test-overlay
    """
    with open_store(root) as store:
        for ref in containers:
            try:
                lifecycle.start(store, ref)
            except RuntimeError as e:
                _failed(e)
            click.echo(ref)


@click.command("stop")
@click.argument("containers", nargs=-1, required=True)
@click.option(
    "-t", "--time", "timeout", default=10, show_default=True, help="Seconds to wait before SIGKILL."
)
@root_option
def stop_cmd(containers: tuple[str, ...], timeout: int, root: str | None) -> None:
    """Stop running containers: SIGTERM, then SIGKILL after --time seconds.

    \b
    Example:
      layerfs stop -t 2 test-overlay
    """
    with open_store(root) as store:
        for ref in containers:
            lifecycle.stop(store, ref, timeout)
            click.echo(ref)


@click.command("kill")
@click.argument("containers", nargs=-1, required=True)
@click.option("-s", "--signal", "sig", default="KILL", show_default=True, help="Signal to send.")
@root_option
def kill_cmd(containers: tuple[str, ...], sig: str, root: str | None) -> None:
    """Send a signal (default SIGKILL) to the main process of running containers.

    \b
    Example:
      layerfs kill -s TERM test-overlay
    """
    with open_store(root) as store:
        for ref in containers:
            try:
                lifecycle.kill(store, ref, sig)
            except ValueError as e:
                raise click.BadParameter(str(e)) from None
            click.echo(ref)


@click.command("exec", context_settings=_ARGS)
@click.option("-d", "--detach", is_flag=True, help="Run the command in the background.")
@click.option("-i", "--interactive", is_flag=True, help="Keep stdin open.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-terminal.")
@click.option(
    "-e", "--env", "env", multiple=True, metavar="KEY=VALUE", help="Set an environment variable."
)
@click.option("-w", "--workdir", default="", help="Working directory inside the container.")
@click.option("-u", "--user", default="", help="User: name|uid[:group|gid].")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@root_option
def exec_cmd(
    detach: bool,
    interactive: bool,
    tty: bool,
    env: tuple[str, ...],
    workdir: str,
    user: str,
    container: str,
    command: tuple[str, ...],
    root: str | None,
) -> None:
    """Run a command in a running container; exit with its status.

    \b
    Example:
      layerfs exec test-overlay sh -c 'dd if=/dev/zero of=/bigfile bs=1M count=50'
    """
    with open_store(root) as store:
        code = lifecycle.exec_in(
            store,
            container,
            command,
            tty=tty,
            stdin=interactive,
            env=env,
            workdir=workdir,
            user=user,
            detach=detach,
        )
    sys.exit(code)


@click.command("rm")
@click.argument("containers", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Kill and remove a running container.")
@click.option("-v", "--volumes", is_flag=True, help="Also remove its anonymous volumes.")
@root_option
def rm_cmd(containers: tuple[str, ...], force: bool, volumes: bool, root: str | None) -> None:
    """Remove containers and their writable layers (named volumes stay).

    \b
    Example:
      layerfs rm -f test-overlay
    """
    from layerfs.runtime.containers import resolve
    from layerfs.runtime.volumes import get_volume, remove_volume

    failed = False
    with open_store(root) as store:
        for ref in containers:
            try:
                c = resolve(store, ref)
                lifecycle.remove(store, ref, force=force)
            except Conflict as e:
                click.echo(f"layerfs: error: {e}", err=True)
                failed = True
                continue
            if volumes:
                for m in c.config.mounts:
                    if m.kind == "volume" and get_volume(store, m.name).anonymous:
                        remove_volume(store, m.name)
            click.echo(ref)
    if failed:
        sys.exit(1)


COMMANDS = [create_cmd, run_cmd, start_cmd, stop_cmd, kill_cmd, exec_cmd, rm_cmd]
