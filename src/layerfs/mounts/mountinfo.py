"""Reading /proc/self/mountinfo, and the layers of any overlay mount found there.

`read_mountinfo()` parses every line (fields as in proc(5); ``\\040``-style octal escapes
decoded in root, mount point and source). `mount_of(path)` finds the mount a path lives on
by its kernel mount id (exact even under over-mounts and bind mounts). `overlay_mount()`
decodes an overlay mount's super options into `OverlayOptions` (lowerdirs top first):

- kernel overlay, classic API: ``lowerdir=A:B::D`` (``\\:`` and ``\\\\`` escapes, ``::``
  before data-only layers), ``upperdir=``, ``workdir=``, then non-default options
  (``redirect_dir=on``, ``userxattr``, ``uuid=on``...); a lower-only mount shows ``ro``;
- kernel overlay, new API (fsopen/fsconfig, as on 6.18): one ``lowerdir+=`` per layer and
  ``datadir+=`` per data-only layer, taken literally; commas inside show as ``\\054``;
- relative layer paths (docker and containers-storage mount long stacks with ``chdir`` and
  relative paths): resolved against the mount point's parent or grandparent, whichever
  holds them all (docker: ``<root>/overlay2/<id>/merged`` with ``l/<short>`` lowers);
- ``fuse.fuse-overlayfs``: the kernel shows no layer options for FUSE mounts (source is
  just "fuse-overlayfs"), so they are read from the command line of the FUSE daemon
  process that serves the mount point (``/proc/<pid>/cmdline`` and ``cwd``). Any other
  FUSE mount (``fuse.layerfs``...) is treated the same way: found when a process has
  ``-o ...lowerdir=...`` and the mount point on its command line, else `Unsupported`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from layerfs.errors import InvalidInput, NotFound, Unsupported
from layerfs.mounts.mntid import mount_id
from layerfs.mounts.options import OverlayOptions, parse_options, split_unescaped, unescape

_OCTAL = re.compile(rb"\\([0-7]{3})")


def unescape_octal(text: str) -> str:
    """Decode the kernel's ``\\NNN`` octal escapes (space, tab, newline, backslash, comma)."""
    raw = os.fsencode(text)
    return os.fsdecode(_OCTAL.sub(lambda m: bytes([int(m.group(1), 8) & 0xFF]), raw))


@dataclass(frozen=True)
class MountInfo:
    """One line of mountinfo. Paths are decoded; `super_options` stay as the kernel wrote
    them (still escaped: decode a value with `unescape_octal`)."""

    mount_id: int
    parent_id: int
    device: str
    root: str
    mount_point: str
    mount_options: tuple[str, ...]
    optional: tuple[str, ...]
    fstype: str
    source: str
    super_options: tuple[str, ...]

    def super_option(self, key: str) -> str | None:
        """The decoded value of `key=value` in the super options ("" for a flag)."""
        for opt in self.super_options:
            k, sep, v = opt.partition("=")
            if k == key:
                return unescape_octal(v) if sep else ""
        return None

    @property
    def is_overlay(self) -> bool:
        return self.fstype == "overlay"

    @property
    def is_fuse(self) -> bool:
        return self.fstype == "fuse" or self.fstype.startswith("fuse.")


def parse_line(line: str) -> MountInfo:
    """Parse one mountinfo line. Raises `InvalidInput` for a malformed one."""
    fields = line.rstrip("\n").split(" ")
    try:
        sep = fields.index("-", 6)
        mid, pid, dev, root, point, opts = fields[:6]
        fstype, source, sopts = fields[sep + 1 : sep + 4]
        return MountInfo(
            mount_id=int(mid),
            parent_id=int(pid),
            device=dev,
            root=unescape_octal(root),
            mount_point=unescape_octal(point),
            mount_options=tuple(opts.split(",")),
            optional=tuple(fields[6:sep]),
            fstype=fstype,
            source=unescape_octal(source),
            super_options=tuple(o for o in sopts.split(",") if o),
        )
    except (ValueError, IndexError):
        raise InvalidInput(f"malformed mountinfo line: {line.strip()!r}") from None


def parse_mountinfo(text: str) -> list[MountInfo]:
    """Every mount of a mountinfo text, in file order (later mounts are on top)."""
    return [parse_line(line) for line in text.splitlines() if line.strip()]


def read_mountinfo(pid: int | str = "self") -> list[MountInfo]:
    """Parse ``/proc/<pid>/mountinfo`` (this process's mount namespace by default)."""
    with open(f"/proc/{pid}/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        return parse_mountinfo(f.read())


def mount_of(path: str, mounts: Sequence[MountInfo] | None = None) -> MountInfo:
    """The mount `path` is on (symlinks followed). `NotFound` if mountinfo lacks it."""
    mid = mount_id(path)
    for m in mounts if mounts is not None else read_mountinfo():
        if m.mount_id == mid:
            return m
    raise NotFound(f"{path}: mount id {mid} is not in /proc/self/mountinfo")


def path_in_mount(path: str, mount: MountInfo) -> str:
    """The path of (real) `path` inside the filesystem of `mount` ("/" at its root).

    The final component is not followed; the mount's `root` (non-"/" for a bind mount of
    a subdirectory) is prefixed.
    """
    head, tail = os.path.split(os.path.abspath(path))
    real = os.path.join(os.path.realpath(head), tail) if tail else os.path.realpath(head)
    if real == mount.mount_point:
        rel = ""
    else:
        rel = os.path.relpath(real, mount.mount_point)
        if rel.startswith(".."):
            raise InvalidInput(f"{path} is not inside the mount at {mount.mount_point}")
    joined = os.path.join(mount.root, rel) if rel else mount.root
    return os.path.normpath(joined)


@dataclass(frozen=True)
class OverlayMount:
    """An overlay mount and its decoded layers.

    `options`: lowerdirs top first, upperdir/workdir (None when read-only), datadirs and
    settings, every path absolute. `origin` tells where they were read: "mountinfo", or
    "cmdline of pid N" for a FUSE mount. `relative_base` is the directory relative layer
    paths were resolved against (None if they were absolute).
    """

    info: MountInfo
    options: OverlayOptions
    origin: str
    relative_base: str | None = None

    @property
    def lowerdirs(self) -> tuple[str, ...]:
        return self.options.lowerdirs

    @property
    def upperdir(self) -> str | None:
        return self.options.upperdir

    @property
    def workdir(self) -> str | None:
        return self.options.workdir

    @property
    def redirect_follow(self) -> bool:
        """False when the kernel refuses to follow redirects (nofollow, userxattr)."""
        value = self.options.setting("redirect_dir")
        return value != "nofollow" and not self.options.userxattr


def overlay_mount(info: MountInfo) -> OverlayMount:
    """Decode the layers of an overlay (kernel or FUSE) mount.

    Raises `InvalidInput` if `info` is not an overlay-like mount, `Unsupported` if the
    layers of a FUSE mount cannot be discovered.
    """
    if info.is_overlay:
        opts = decode_super_options(info.super_options)
        origin = "mountinfo"
    elif info.is_fuse:
        found = _fuse_daemon_options(info.mount_point)
        if found is None:
            raise Unsupported(
                f"{info.mount_point}: {info.fstype} mount; the kernel does not show FUSE "
                "layer options and no process serving it shows lowerdir= on its command line"
            )
        opts, origin = found
    else:
        raise InvalidInput(f"{info.mount_point} is a {info.fstype} mount, not an overlay")
    opts, base = _absolute(opts, info.mount_point)
    return OverlayMount(info, opts, origin, base)


def decode_super_options(super_options: Iterable[str]) -> OverlayOptions:
    """Turn the (escaped) super options of an overlay mountinfo line into options.

    Unknown options (LSM labels such as ``seclabel``) are kept as settings; ``ro``/``rw``
    become flags. Never raises for an option it does not know.
    """
    lowers: list[str] = []
    datas: list[str] = []
    upper = work = None
    settings: list[tuple[str, str]] = []
    flags: list[str] = []
    for raw in super_options:
        key, sep, value = raw.partition("=")
        value = unescape_octal(value)
        if key == "lowerdir":
            # a raw comma can only come from an escaped one (\054): keep it in the value
            parsed = parse_options("lowerdir=" + "\\,".join(split_unescaped(value, ",")))
            lowers, datas = list(parsed.lowerdirs), list(parsed.datadirs)
        elif key == "lowerdir+":
            lowers.append(value)
        elif key == "datadir+":
            datas.append(value)
        elif key == "upperdir":
            upper = unescape(value)
        elif key == "workdir":
            work = unescape(value)
        elif key in ("ro", "rw") and not sep:
            flags.append(key)
        else:
            settings.append((key, value))
    return OverlayOptions(tuple(lowers), upper, work, tuple(datas), tuple(settings), tuple(flags))


def _absolute(opts: OverlayOptions, mount_point: str) -> tuple[OverlayOptions, str | None]:
    paths = [p for _, p in opts.layers()]
    if all(os.path.isabs(p) for p in paths):
        return opts, None
    parent = os.path.dirname(mount_point)
    for base in (parent, os.path.dirname(parent)):
        if all(os.path.isabs(p) or os.path.isdir(os.path.join(base, p)) for p in paths):
            return _rebase(opts, base), base
    return _rebase(opts, parent), parent


def _rebase(opts: OverlayOptions, base: str) -> OverlayOptions:
    def fix(p: str | None) -> str | None:
        return None if p is None else os.path.normpath(os.path.join(base, p))

    return replace(
        opts,
        lowerdirs=tuple(os.path.normpath(os.path.join(base, p)) for p in opts.lowerdirs),
        datadirs=tuple(os.path.normpath(os.path.join(base, p)) for p in opts.datadirs),
        upperdir=fix(opts.upperdir),
        workdir=fix(opts.workdir),
    )


def _fuse_daemon_options(mount_point: str) -> tuple[OverlayOptions, str] | None:
    """Find the process whose command line mounts `mount_point` with lowerdir= options."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = [os.fsdecode(a) for a in f.read().split(b"\0") if a]
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        parsed = parse_daemon_argv(argv)
        if parsed is None:
            continue
        opts, target = parsed
        # resolve the parent only: a stat of the mount point itself would go to the daemon
        head, tail = os.path.split(os.path.normpath(os.path.join(cwd, target)))
        if os.path.join(os.path.realpath(head), tail) == mount_point:
            base_opts = _rebase(opts, cwd) if cwd else opts
            return base_opts, f"cmdline of pid {entry}"
    return None


_LAYERFS_DAEMON = "layerfs.mounts.fuse.daemon"
_KEPT = ("lowerdir", "upperdir", "workdir", "redirect_dir", "userxattr")


def parse_daemon_argv(argv: Sequence[str]) -> tuple[OverlayOptions, str] | None:
    """Options and mount point of a FUSE overlay daemon's argv; None if it is not one.

    Two shapes: fuse-overlayfs (and ``layerfs mount --driver fuse -f``):
    ``-o lowerdir=..,upperdir=..,workdir=.. [other -o ...] MOUNTPOINT``; and layerfs's
    background daemon: ``python -m layerfs.mounts.fuse.daemon SPEC-JSON MOUNTPOINT FD``.
    """
    if _LAYERFS_DAEMON in argv:
        return _layerfs_daemon_argv(argv)
    opt_texts: list[str] = []
    positional: list[str] = []
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "-o" and i + 1 < len(argv):
            opt_texts.append(argv[i + 1])
            i += 2
            continue
        if arg.startswith("-o") and len(arg) > 2:
            opt_texts.append(arg[2:])
        elif not arg.startswith("-"):
            positional.append(arg)
        i += 1
    layer_opts = [o for text in opt_texts for o in split_unescaped(text, ",")]
    if not positional:
        return None
    return _kept_options(layer_opts, positional[-1])


def _layerfs_daemon_argv(argv: Sequence[str]) -> tuple[OverlayOptions, str] | None:
    at = list(argv).index(_LAYERFS_DAEMON)
    try:
        spec = json.loads(argv[at + 1])
        return _kept_options([str(o) for o in spec["options"]], argv[at + 2])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def _kept_options(options: Sequence[str], target: str) -> tuple[OverlayOptions, str] | None:
    kept = [o for o in options if o.split("=", 1)[0] in _KEPT]
    if not any(o.startswith("lowerdir=") for o in kept):
        return None
    try:
        return parse_options(",".join(kept)), target
    except InvalidInput:
        return None
