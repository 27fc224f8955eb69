"""`layerfs mount` and `layerfs umount`: the union as a real mount (kernel or FUSE)."""

from __future__ import annotations

import os
import subprocess

import click

from layerfs.errors import InvalidOption, MountError, Unsupported
from layerfs.mounts import kernel, userns
from layerfs.mounts.mount import Mount
from layerfs.mounts.options import OverlayOptions, parse_options, split_unescaped

_DRIVERS = ("auto", "kernel", "fuse")
FUSE_TYPE = "fuse.layerfs"  # the Mount type the FUSE driver serves (overlay options)


@click.command("mount")
@click.option("-t", "fstype", default="overlay", show_default=True, help="Filesystem type.")
@click.option(
    "-o",
    "option_text",
    multiple=True,
    required=True,
    metavar="OPTIONS",
    help="Options as for mount -t overlay, e.g. lowerdir=TOP:BOTTOM,upperdir=U,workdir=W.",
)
@click.option(
    "--driver",
    type=click.Choice(_DRIVERS),
    default="auto",
    show_default=True,
    help="kernel overlay, FUSE server, or auto: the kernel when permitted, else FUSE.",
)
@click.option("-f", "--foreground", is_flag=True, help="Run the FUSE server in the foreground.")
@click.option("--source", default="overlay", show_default=True, help="Source name in mountinfo.")
@click.argument("merged")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def mount_cmd(
    fstype: str,
    option_text: tuple[str, ...],
    driver: str,
    foreground: bool,
    source: str,
    merged: str,
    command: tuple[str, ...],
) -> None:
    """Mount an overlay of directory layers on MERGED (an existing directory).

    The options are those of `mount -t overlay -o` (escape ':' and ',' in paths
    with a backslash). With `-- CMD...`, CMD runs with the union mounted and the
    union is unmounted when it exits; layerfs exits with CMD's status.

    As non-root the kernel driver mounts inside a private user + mount namespace
    (option userxattr): the mount is visible only to CMD, so a CMD is required.
    A mount visible to every process needs root or `--driver fuse`. The FUSE
    driver's own options (allow_other, threads=N, passthrough=on|off) and -f
    select it when --driver is auto.

    \b
    Examples:
      layerfs mount -o lowerdir=/l2:/l1,upperdir=/u,workdir=/w /merged
      layerfs mount -o lowerdir=/l,upperdir=/u,workdir=/w /merged -- ls /merged
      layerfs mount --driver fuse -o lowerdir=/l,upperdir=/u,workdir=/w /merged
    """
    if fstype != "overlay":
        raise InvalidOption(f"-t {fstype}: only overlay is supported")
    overlay_text, fuse_only = _split_fuse_options(",".join(option_text))
    opts = parse_options(overlay_text).absolute()
    target = os.path.abspath(merged)
    opts.validate()
    kernel.check_target(target)
    if fuse_only and driver == "kernel":
        raise InvalidOption(f"{fuse_only[0]}: an option of the FUSE driver (--driver fuse)")
    chosen = _choose_driver(driver, foreground or bool(fuse_only), bool(command))
    if chosen == "userns":
        code = userns.run_in_namespace(opts, target, command, source=source)
        raise SystemExit(code)
    if chosen == "fuse":
        try:
            _fuse_mount(opts, fuse_only, target, source, foreground and not command)
        except (MountError, Unsupported) as e:
            if driver != "auto" or os.geteuid() == 0 or command:
                raise
            hint = "as non-root the kernel driver can mount for one command: add -- CMD..."
            raise type(e)(f"{e} ({hint})") from None
    else:
        kernel.mount_overlay(opts, target, source=source)
    if command:
        raise SystemExit(_run_then_umount(command, target))


def _choose_driver(driver: str, foreground: bool, has_command: bool) -> str:
    """ "kernel", "userns" (kernel, unprivileged) or "fuse"; raises for impossible choices."""
    if foreground and driver == "kernel":
        raise InvalidOption("-f/--foreground applies to the FUSE driver only")
    if driver == "fuse" or (driver == "auto" and foreground):
        return "fuse"
    if os.geteuid() == 0:
        return "kernel"
    why = userns.restriction()
    if driver == "auto":
        if has_command and why is None:
            return "userns"
        return "fuse"
    if why is not None:
        raise Unsupported(userns.unavailable_message(why))
    if not has_command:
        raise InvalidOption(
            "as non-root the kernel overlay is mounted inside a private user namespace, "
            "visible only to a command run there: add -- CMD..., or use --driver fuse "
            "for a mount every process sees"
        )
    return "userns"


def _split_fuse_options(text: str) -> tuple[str, tuple[str, ...]]:
    """(overlay options, FUSE-only options such as allow_other or threads=N) of -o TEXT."""
    try:
        from layerfs.mounts.fuse.daemon import FUSE_OPTIONS
    except ImportError:  # no FUSE driver: every option must then be an overlay one
        return text, ()
    fuse_only: list[str] = []
    overlay: list[str] = []
    for part in split_unescaped(text, ","):
        (fuse_only if part.partition("=")[0] in FUSE_OPTIONS else overlay).append(part)
    return ",".join(overlay), tuple(fuse_only)


def _fuse_mount(
    opts: OverlayOptions, extra: tuple[str, ...], target: str, source: str, foreground: bool
) -> None:
    try:
        from layerfs.mounts import fuse
    except ImportError as e:  # the FUSE package failed to import on this machine
        raise Unsupported(f"the FUSE driver is not available: {e}") from None
    mount_fn = getattr(fuse, "mount", None)
    if mount_fn is None:
        raise Unsupported("the FUSE driver is not available yet (layerfs.mounts.fuse.mount)")
    m = opts.to_mount(source)
    mount_fn(Mount(FUSE_TYPE, m.source, (*m.options, *extra)), target, foreground=foreground)


def _run_then_umount(command: tuple[str, ...], target: str) -> int:
    """Run `command`, then unmount `target` (lazily if still busy); its exit status
    (127 if it cannot be run, 128+N if killed by signal N)."""
    try:
        code = subprocess.run(list(command), check=False).returncode
    except FileNotFoundError:
        code = 127
        click.echo(f"layerfs: error: {command[0]}: command not found", err=True)
    finally:
        if kernel.is_mountpoint(target):  # CMD may have unmounted it itself
            try:
                kernel.umount(target)
            except MountError:
                kernel.umount(target, lazy=True)
    return 128 - code if code < 0 else code


@click.command("umount")
@click.option("-l", "--lazy", is_flag=True, help="Detach now, clean up when no longer busy.")
@click.argument("merged")
def umount_cmd(merged: str, lazy: bool) -> None:
    """Unmount MERGED (a kernel overlay or a FUSE mount).

    \b
    Example:
      layerfs umount /merged
    """
    target = os.path.abspath(merged)
    if _is_fuse_mount(target):
        from layerfs.mounts import fuse

        fuse.umount(target, lazy=lazy)
    else:
        kernel.umount(target, lazy=lazy)


def _is_fuse_mount(target: str) -> bool:
    """True if the topmost mount at `target` is a FUSE mount (looked up without a stat,
    which would fail with ENOTCONN on a mount whose daemon died)."""
    from layerfs.mounts.mountinfo import read_mountinfo

    on_target = [m for m in read_mountinfo() if m.mount_point == target]
    return bool(on_target) and on_target[-1].fstype.startswith("fuse")


COMMANDS = [mount_cmd, umount_cmd]
