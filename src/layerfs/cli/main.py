"""The `layerfs` command: a click group whose commands live in the other cli modules.

Each module in this package whose name does not start with "_" (except this one) exposes
`COMMANDS`, a list of click commands. `COMMAND_MODULES` below names the module of every
command so that one invocation imports only the module it runs (a CLI call costs the
startup of one module, not of all of them); tests/cli/test_main.py checks that the table
and the modules agree. Library errors become one-line messages and exit codes here and
nowhere else.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

import layerfs
from layerfs.errors import LayerfsError

#: command name -> module of layerfs.cli that defines it (in its COMMANDS list)
COMMAND_MODULES: dict[str, str] = {
    "build": "build",
    "builder": "builder",
    "commit": "container_info",
    "container": "container_info",
    "diff": "container_info",
    "logs": "container_info",
    "ps": "container_info",
    "create": "containers",
    "dive": "dive",
    "exec": "containers",
    "kill": "containers",
    "rm": "containers",
    "run": "containers",
    "start": "containers",
    "stop": "containers",
    "fsck": "fsck",
    "info": "info",
    "export": "image_io",
    "import": "image_io",
    "history": "images",
    "images": "images",
    "inspect": "images",
    "rmi": "images",
    "tag": "images",
    "inspect-mount": "inspect_mount",
    "lint": "lint",
    "report": "report",
    "mount": "mount",
    "umount": "mount",
    "system": "system",
    "changes": "trace",
    "trace": "trace",
    "copy": "transfer",
    "load": "transfer",
    "pull": "transfer",
    "push": "transfer",
    "save": "transfer",
    "volume": "volumes",
}


def load_command(name: str) -> click.Command | None:
    """Import the module that defines command `name` and return the command (None if unknown)."""
    module_name = COMMAND_MODULES.get(name)
    if module_name is None:
        return None
    module = importlib.import_module(f"layerfs.cli.{module_name}")
    for command in getattr(module, "COMMANDS", []):
        if command.name == name:
            return command
    raise LookupError(f"layerfs.cli.{module_name} does not define the command {name!r}")


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except LayerfsError as e:
            click.echo(f"layerfs: error: {e}", err=True)
            sys.exit(1)
        except OSError as e:
            click.echo(f"layerfs: error: {e}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(layerfs.__version__, prog_name="layerfs")
@click.option(
    "--root",
    metavar="DIR",
    help="Store root (default: $LAYERFS_ROOT, else ~/.local/share/layerfs).",
)
def cli(root: str | None) -> None:
    """layerfs: union filesystems and container layers, explained.

    \b
    Examples:
      layerfs mount -o lowerdir=/l,upperdir=/u,workdir=/w /merged
      layerfs trace /merged/etc/hosts
    """
    if root:
        # The store reads LAYERFS_ROOT; setting it here also reaches helper processes.
        os.environ["LAYERFS_ROOT"] = os.path.abspath(root)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="layerfs")


if __name__ == "__main__":
    main()
