"""`layerfs fsck`: check the local store, and repair what nothing references."""

from __future__ import annotations

import sys

import click

from layerfs.cli._common import emit, emit_json, json_option
from layerfs.cli._store import open_store, root_option
from layerfs.store.fsck import fsck


@click.command("fsck")
@click.option("--deep", is_flag=True, help="Also re-tar every layer and check its content.")
@click.option("--repair", is_flag=True, help="Remove what nothing references.")
@json_option
@root_option
def fsck_cmd(deep: bool, repair: bool, as_json: bool, root: str | None) -> None:
    """Check the store: blobs present and matching their digests, layer rows with their
    dirs, images consistent, no orphans. Exit status 1 when problems remain.

    \b
    Examples:
      layerfs fsck
      layerfs fsck --deep --repair --json
    """
    with open_store(root) as store:
        report = fsck(store, deep=deep, repair=repair)
    if as_json:
        emit_json(
            {
                "clean": report.clean,
                "checked": report.checked,
                "problems": [p.to_dict() for p in report.problems],
            }
        )
    else:
        rows = [{**p.to_dict(), "repaired": "yes" if p.repaired else "no"} for p in report.problems]
        if rows:
            emit(rows, ["kind", "subject", "detail", "repaired"], False)
        counts = ", ".join(f"{n} {what}" for what, n in report.checked.items())
        click.echo(f"checked {counts}: {'clean' if report.clean else 'PROBLEMS FOUND'}")
    if not report.clean:
        sys.exit(1)


COMMANDS = [fsck_cmd]
