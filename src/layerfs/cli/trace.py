"""`layerfs trace` and `layerfs changes`: explain a path, list what an upper layer changes."""

from __future__ import annotations

import os
from dataclasses import asdict

import click

from layerfs.cli._common import emit_json, emit_table, human_size, json_option
from layerfs.errors import InvalidOption
from layerfs.mounts.mountinfo import OverlayMount, mount_of, overlay_mount, path_in_mount
from layerfs.mounts.options import parse_options
from layerfs.union.changes import RULES, changes
from layerfs.union.trace import trace_layers
from layerfs.union.usage import change_sizes


def locate(path: str) -> tuple[OverlayMount, str]:
    """The overlay mount `path` is inside, and the union path of `path` in it.

    The final component is not followed (a symlink is traced, not its target); the path
    need not exist (a deleted file, or a file in a deleted directory, can be traced).
    """
    full = os.path.abspath(path)
    own = os.path.isdir(full) and not os.path.islink(full)
    anchor = full if own else os.path.dirname(full)
    while not os.path.exists(anchor):  # a deleted directory: its nearest existing ancestor
        anchor = os.path.dirname(anchor)
    info = mount_of(anchor)
    return overlay_mount(info), path_in_mount(full, info)


@click.command("trace")
@click.option(
    "-o", "option_text", multiple=True, metavar="OPTIONS",
    help="Layers as for mount -t overlay (lowerdir=TOP:BOTTOM[,upperdir=U]); PATH is then "
    "a path inside the union.",
)
@json_option
@click.argument("path")
@click.argument("image_path", required=False)
def trace_cmd(option_text: tuple[str, ...], as_json: bool, path: str,
              image_path: str | None) -> None:
    """Show what PATH is in every layer of an overlay and which layer wins.

    PATH is a path inside a mounted overlay (kernel, fuse-overlayfs or layerfs; found in
    /proc/self/mountinfo), or, with -o, a path inside the union of the given layers.
    With two arguments, IMAGE PATH: the path through an image's layers (any source
    name: store, oci:, docker-archive:, ...), each with the instruction that made it.
    Rows go top first; a read is served by the row marked '*'.

    \b
    Examples:
      layerfs trace /merged/etc/hosts
      layerfs trace -o lowerdir=/l1:/l2,upperdir=/u /modify.txt
      layerfs trace myapp:latest /etc/motd
    """
    if image_path is not None:
        _trace_image(path, image_path, as_json)
        return
    if option_text:
        opts = parse_options(",".join(option_text)).absolute()
        if not opts.lowerdirs:
            raise InvalidOption("-o: lowerdir= is required")
        lowers, upper, union_path = opts.lowerdirs, opts.upperdir, path
        follow = opts.setting("redirect_dir") != "nofollow" and not opts.userxattr
        where = None
    else:
        mount, union_path = locate(path)
        lowers, upper, follow = mount.lowerdirs, mount.upperdir, mount.redirect_follow
        where = mount.info.mount_point
    result = trace_layers(lowers, upper, union_path, redirect_follow=follow)
    if as_json:
        data = result.to_dict()
        data["mount_point"] = where
        emit_json(data)
        return
    rows = [
        {
            "win": "*" if r.index == result.winner else ("+" if r.visible else ""),
            "layer": "upperdir" if r.index == 0 else f"lowerdir {r.index}",
            "state": r.state,
            "size": "" if r.size is None else human_size(r.size),
            "realpath": r.realpath,
            "note": r.reason or (f"redirect to {r.redirect}" if r.redirect else ""),
        }
        for r in result.rows
    ]
    emit_table(rows, ["win", "layer", "state", "size", "realpath", "note"])
    click.echo(result.summary)


def _trace_image(image: str, path: str, as_json: bool) -> None:
    from layerfs.analysis.sources import open_source  # loaded only for the image form
    from layerfs.analysis.trace import trace_image

    with open_source(image) as img:
        result = trace_image(img, path)
    if as_json:
        emit_json(result.to_dict())
        return
    emit_table([{"win": "*" if r.index == result.winner else ("+" if r.visible else ""),
                 "layer": r.index, "state": r.state,
                 "size": "" if r.size is None else human_size(r.size),
                 "created by": " ".join(r.created_by.split())[:60], "note": r.note}
                for r in result.rows], ["win", "layer", "state", "size", "created by", "note"])
    click.echo(result.summary)


@click.command("changes")
@click.option(
    "--lower", "lowers", multiple=True, metavar="DIR[:DIR...]",
    help="A lower layer, top first; repeat it or separate layers with ':'.",
)
@click.option(
    "--rules", type=click.Choice(RULES), default="docker", show_default=True,
    help="docker diff's rules, or podman diff's.",
)
@click.option("-s", "--size", "with_size", is_flag=True, help="Add each change's size.")
@json_option
@click.argument("upperdir")
def changes_cmd(
    lowers: tuple[str, ...], rules: str, with_size: bool, as_json: bool, upperdir: str
) -> None:
    """List what UPPERDIR changes over its lower layers, as `docker diff` does.

    One line per change: A (added), C (changed) or D (deleted) and the path. Without
    --lower, UPPERDIR may be a mounted overlay (its upperdir and lowerdirs are used).

    \b
    Examples:
      layerfs changes /u --lower /l1 --lower /l2
      layerfs changes /u --lower /l1:/l2 --json
      layerfs changes /merged
    """
    lowerdirs = [os.path.abspath(p) for spec in lowers for p in spec.split(":") if p]
    upper = os.path.abspath(upperdir)
    if not lowerdirs:
        mount = overlay_mount(mount_of(upper))
        if mount.upperdir is None:
            raise InvalidOption(f"{upperdir}: a read-only overlay (no upperdir), nothing changes")
        upper, lowerdirs = mount.upperdir, list(mount.lowerdirs)
    found = changes(upper, lowerdirs, rules=rules)
    sized = change_sizes(upper, lowerdirs, found) if with_size else [(c, None) for c in found]
    if as_json:
        emit_json([{**asdict(c), **({"size": s} if with_size else {})} for c, s in sized])
        return
    for change, size in sized:
        suffix = f"  {human_size(size)}" if size is not None else ""
        click.echo(f"{change}{suffix}")


COMMANDS = [trace_cmd, changes_cmd]
