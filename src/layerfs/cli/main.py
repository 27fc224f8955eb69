"""The `layerfs` command: a click group whose commands live in the other cli modules.

Every module in this package whose name does not start with "_" (except this one)
exposes `COMMANDS`, a list of click commands; they are added here. Library errors become
one-line messages and exit codes here and nowhere else.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import click

import layerfs
import layerfs.cli
from layerfs.errors import LayerfsError


class _Group(click.Group):
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


def _load_commands() -> None:
    for info in pkgutil.iter_modules(layerfs.cli.__path__):
        if info.name.startswith("_") or info.name == "main":
            continue
        module = importlib.import_module(f"layerfs.cli.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            cli.add_command(command)


_load_commands()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="layerfs")


if __name__ == "__main__":
    main()
