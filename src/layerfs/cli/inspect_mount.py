"""`layerfs inspect-mount`: the layers of any overlay mount, with sizes, and its upper layer."""

from __future__ import annotations

import os
from dataclasses import asdict

import click

from layerfs.cli._common import emit_json, emit_table, human_size, json_option
from layerfs.mounts.mountinfo import OverlayMount, mount_of, overlay_mount
from layerfs.union.usage import UpperSummary, layer_usage, upper_summary


@click.command("inspect-mount")
@json_option
@click.argument("merged")
def inspect_mount_cmd(as_json: bool, merged: str) -> None:
    """Show the layers of the overlay mounted on MERGED and what its upper layer changes.

    Works for any overlay in /proc/self/mountinfo: layerfs's, docker's, podman's, a
    plain `mount -t overlay` (classic or new mount API), fuse-overlayfs (layers read from
    its daemon's command line). Layers are listed top to bottom: upperdir, lowerdirs,
    then data-only layers. SIZE is the apparent size (as docker's SIZE), DISK the space
    used; the summary counts docker-diff changes of the upper layer.

    \b
    Examples:
      layerfs inspect-mount /merged
      layerfs inspect-mount /var/lib/docker/overlay2/<id>/merged --json
    """
    mount = overlay_mount(mount_of(os.path.abspath(merged)))
    layers = _layer_rows(mount)
    summary = None
    if mount.upperdir is not None:
        summary = upper_summary(mount.upperdir, mount.lowerdirs)
    if as_json:
        emit_json(
            {
                "mount_point": mount.info.mount_point,
                "fstype": mount.info.fstype,
                "source": mount.info.source,
                "options_from": mount.origin,
                "relative_base": mount.relative_base,
                "workdir": mount.workdir,
                "settings": dict(mount.options.settings),
                "layers": layers,
                "upper": None if summary is None else _summary_dict(summary),
            }
        )
        return
    info = mount.info
    click.echo(f"{info.mount_point}: {info.fstype} (source {info.source!r}, "
               f"options from {mount.origin})")
    settings = ",".join(f"{k}={v}" if v else k for k, v in mount.options.settings)
    if settings:
        click.echo(f"options: {settings}")
    if mount.workdir:
        click.echo(f"workdir: {mount.workdir}")
    click.echo("")
    table = [  # the real directory: docker's and podman's l/<short> links say little
        {**row, "path": row["realpath"], "size": human_size(row["size"]),
         "disk": human_size(row["disk"])}
        for row in layers
    ]
    emit_table(table, ["layer", "path", "size", "disk", "files", "dirs", "whiteouts"])
    click.echo("")
    if summary is None:
        click.echo("read-only overlay: no upperdir, nothing changes")
        return
    click.echo(
        f"upperdir: {summary.added} added, {summary.changed} changed, "
        f"{summary.deleted} deleted; {human_size(summary.bytes)} "
        f"({summary.bytes} bytes, {human_size(summary.disk_bytes)} on disk)"
    )


def _layer_rows(mount: OverlayMount) -> list[dict[str, object]]:
    roles: list[tuple[str, str]] = []
    if mount.upperdir is not None:
        roles.append(("upperdir", mount.upperdir))
    roles += [(f"lowerdir {i}", p) for i, p in enumerate(mount.lowerdirs, start=1)]
    roles += [(f"datadir {i}", p) for i, p in enumerate(mount.options.datadirs, start=1)]
    rows = []
    for role, path in roles:
        usage = layer_usage(path)
        rows.append(
            {
                "layer": role,
                "path": path,
                "realpath": os.path.realpath(path),
                "size": usage.bytes,
                "disk": usage.disk_bytes,
                "files": usage.files + usage.symlinks + usage.other,
                "dirs": usage.dirs,
                "whiteouts": usage.whiteouts,
            }
        )
    return rows


def _summary_dict(summary: UpperSummary) -> dict[str, object]:
    data = asdict(summary)
    data.pop("usage", None)
    return data


COMMANDS = [inspect_mount_cmd]
