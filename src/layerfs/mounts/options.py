"""Overlay mount options: the exact `mount -t overlay -o ...` syntax, as a frozen value.

`parse_options(text)` reads the option string the way the kernel does
(fs/overlayfs/params.c): options are separated by unescaped commas, `lowerdir=A:B:C`
lists lower layers **top first** separated by unescaped colons, `A:B::D` makes D a
data-only layer, and a backslash escapes the next character (`\\:`, `\\,`, `\\\\`) in
`lowerdir`, `upperdir` and `workdir`. `lowerdir+=` and `datadir+=` append one layer each,
taken literally (no unescaping), as the kernel does. The generic VFS flags mount(8)
accepts (`ro`, `nosuid`, `noatime`...) are kept apart in `flags`.

Unknown option names are rejected with a one-line `InvalidOption` that suggests the
closest known name: a typo (`lowerdirs=`) must not reach the kernel as silence or EINVAL.

`OverlayOptions.validate()` (see `mounts/validate.py`) checks the layers on disk.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from layerfs.errors import InvalidOption
from layerfs.mounts import abi
from layerfs.mounts.mount import Mount
from layerfs.mounts.validate import validate_layers

# Generic mount(8) flags -> (MS_* bit, set it?). Not overlay options: the kernel gets them
# as mount flags (classic API) or mount attributes (new API), never in the data string.
VFS_FLAGS: dict[str, tuple[int, bool]] = {
    "defaults": (0, True),
    "ro": (abi.MS_RDONLY, True),
    "rw": (abi.MS_RDONLY, False),
    "nosuid": (abi.MS_NOSUID, True),
    "suid": (abi.MS_NOSUID, False),
    "nodev": (abi.MS_NODEV, True),
    "dev": (abi.MS_NODEV, False),
    "noexec": (abi.MS_NOEXEC, True),
    "exec": (abi.MS_NOEXEC, False),
    "sync": (abi.MS_SYNCHRONOUS, True),
    "async": (abi.MS_SYNCHRONOUS, False),
    "dirsync": (abi.MS_DIRSYNC, True),
    "noatime": (abi.MS_NOATIME, True),
    "atime": (abi.MS_NOATIME, False),
    "nodiratime": (abi.MS_NODIRATIME, True),
    "diratime": (abi.MS_NODIRATIME, False),
    "relatime": (abi.MS_RELATIME, True),
    "norelatime": (abi.MS_RELATIME, False),
    "strictatime": (abi.MS_STRICTATIME, True),
    "lazytime": (abi.MS_LAZYTIME, True),
    "nolazytime": (abi.MS_LAZYTIME, False),
}

# Overlay options with a fixed set of values (None: a bare flag), in canonical order.
_CHOICES: dict[str, tuple[str, ...] | None] = {
    "redirect_dir": ("on", "off", "follow", "nofollow"),
    "index": ("on", "off"),
    "uuid": ("on", "off", "null", "auto"),
    "nfs_export": ("on", "off"),
    "xino": ("on", "off", "auto"),
    "metacopy": ("on", "off"),
    "verity": ("on", "off", "require"),
    "userxattr": None,
    "volatile": None,
    "default_permissions": None,
}
_LAYER_KEYS = ("lowerdir", "lowerdir+", "datadir+", "upperdir", "workdir")
KNOWN_OPTIONS = (*_LAYER_KEYS, *_CHOICES, *VFS_FLAGS)


@dataclass(frozen=True)
class OverlayOptions:
    """The options of one overlay mount.

    lowerdirs: real paths, top first (unescaped); datadirs: data-only lower layers;
    settings: overlay options other than layers, as (name, value) with value "" for a
    bare flag (`userxattr`), in the order given; flags: generic VFS flag names (`ro`...).
    """

    lowerdirs: tuple[str, ...]
    upperdir: str | None = None
    workdir: str | None = None
    datadirs: tuple[str, ...] = ()
    settings: tuple[tuple[str, str], ...] = ()
    flags: tuple[str, ...] = field(default=())

    # -- reading -----------------------------------------------------------------------

    def setting(self, name: str) -> str | None:
        """The value of overlay option `name` ("" for a set flag), None if not given."""
        found = None
        for key, value in self.settings:
            if key == name:
                found = value  # the kernel keeps the last occurrence
        return found

    @property
    def userxattr(self) -> bool:
        return self.setting("userxattr") is not None

    @property
    def readonly(self) -> bool:
        """True when mounted read-only: `ro`, or no upperdir at all."""
        ro = False
        for flag in self.flags:
            if flag in ("ro", "rw"):
                ro = flag == "ro"
        return ro or self.upperdir is None

    def layers(self) -> Iterator[tuple[str, str]]:
        """(role, path) for every directory named: lowerdirs top first, datadirs, upper, work."""
        yield from (("lowerdir", p) for p in self.lowerdirs)
        yield from (("datadir", p) for p in self.datadirs)
        if self.upperdir is not None:
            yield "upperdir", self.upperdir
        if self.workdir is not None:
            yield "workdir", self.workdir

    # -- rendering ---------------------------------------------------------------------

    def data_options(self) -> tuple[str, ...]:
        """The overlay-specific options, escaped, one element per option (no VFS flags)."""
        out: list[str] = []
        if self.lowerdirs:
            value = ":".join(escape_path(p) for p in self.lowerdirs)
            if self.datadirs:
                value += "".join("::" + escape_path(p) for p in self.datadirs)
            out.append(f"lowerdir={value}")
        if self.upperdir is not None:
            out.append(f"upperdir={escape_path(self.upperdir)}")
        if self.workdir is not None:
            out.append(f"workdir={escape_path(self.workdir)}")
        out.extend(f"{k}={v}" if v else k for k, v in self.settings)
        return tuple(out)

    def to_string(self) -> str:
        """The option string for `mount -t overlay -o` (parse_options reads it back)."""
        return ",".join((*self.data_options(), *self.flags))

    def to_mount(self, source: str = "overlay") -> Mount:
        """This mount as data: `Mount("overlay", source, options)`."""
        check_source(source)
        return Mount("overlay", source, (*self.data_options(), *self.flags))

    @classmethod
    def from_mount(cls, m: Mount) -> OverlayOptions:
        """The options of an overlay `Mount` (raises InvalidOption for another type)."""
        if m.type != "overlay":
            raise InvalidOption(f"mount type {m.type!r} is not overlay")
        return parse_options(",".join(m.options))

    def absolute(self) -> OverlayOptions:
        """The same options with every directory made absolute against the cwd."""

        def fix(p: str | None) -> str | None:
            return None if p is None else os.path.abspath(p)

        return replace(
            self,
            lowerdirs=tuple(os.path.abspath(p) for p in self.lowerdirs),
            datadirs=tuple(os.path.abspath(p) for p in self.datadirs),
            upperdir=fix(self.upperdir),
            workdir=fix(self.workdir),
        )

    def with_setting(self, name: str, value: str = "") -> OverlayOptions:
        """A copy with overlay option `name` set (replacing an earlier value)."""
        _check_setting(name, value)
        kept = tuple((k, v) for k, v in self.settings if k != name)
        return replace(self, settings=(*kept, (name, value)))

    # -- validation --------------------------------------------------------------------

    def validate(self) -> None:
        """Raise `InvalidOption` (one line, naming the path) unless the kernel could mount
        these layers. Reads only: nothing is written."""
        for key, value in self.settings:  # values built in code skip parse_options
            _check_setting(key, value or None)
        for flag in self.flags:
            if flag not in VFS_FLAGS:
                raise InvalidOption(f"{flag!r}: not a mount flag (ro, nosuid, noatime...)")
        validate_layers(self)


def check_source(source: str) -> None:
    """The source of an overlay mount is a single name (a label in mountinfo, such as
    "overlay"): no '/', ',', whitespace or NUL. Raises InvalidOption."""
    if not source or any(c in "/,\0" or c.isspace() for c in source):
        raise InvalidOption(
            f"mount source {source!r}: must be a single name (no '/', ',', spaces or NUL)"
        )


def escape_path(path: str) -> str:
    """Escape `\\`, `:` and `,` the way the kernel's lowerdir parser unescapes them."""
    return path.replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")


def unescape(text: str) -> str:
    """Drop each escaping backslash (the kernel's ovl_unescape)."""
    out: list[str] = []
    it = iter(text)
    for ch in it:
        out.append(next(it, "") if ch == "\\" else ch)
    return "".join(out)


def split_unescaped(text: str, sep: str) -> list[str]:
    """Split at each `sep` not preceded by an escaping backslash; escapes are kept."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            current.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def parse_options(text: str) -> OverlayOptions:
    """Parse `mount -t overlay -o TEXT`. Raises InvalidOption (one line) for bad syntax,
    unknown names and bad values; does not look at the filesystem (see validate())."""
    if "\0" in text:
        raise InvalidOption("mount options contain a NUL byte")
    b = _Builder()
    for opt in split_unescaped(text, ","):
        if not opt:
            continue
        key, sep, value = opt.partition("=")
        if key == "lowerdir":
            b.set_lowerdir(value)
        elif key in ("lowerdir+", "datadir+"):
            b.append_layer(key, value)
        elif key in ("upperdir", "workdir"):
            if not value:
                raise InvalidOption(f"{key}: empty value")
            b.dirs[key] = unescape(value)
        elif key in VFS_FLAGS and not sep:
            b.flags.append(key)
        else:
            _check_setting(key, value if sep else None)
            b.settings.append((key, value))
    return b.build()


class _Builder:
    """Options as they are parsed, with the kernel's rules for combining layer options:
    `lowerdir=` replaces every lower layer, `lowerdir+=`/`datadir+=` append one (taken
    literally), and the two styles do not mix."""

    def __init__(self) -> None:
        self.lowers: list[str] = []
        self.datas: list[str] = []
        self.dirs: dict[str, str] = {}
        self.settings: list[tuple[str, str]] = []
        self.flags: list[str] = []
        self.seen_lowerdir = False

    def set_lowerdir(self, value: str) -> None:
        if not value:
            raise InvalidOption("lowerdir: empty value (give lowerdir=DIR[:DIR...])")
        if self.lowers and not self.seen_lowerdir:
            raise InvalidOption("lowerdir+ and datadir+ cannot be mixed with lowerdir=")
        self.lowers, self.datas = _parse_lowerdir(value)
        self.seen_lowerdir = True

    def append_layer(self, key: str, value: str) -> None:
        if self.seen_lowerdir:
            raise InvalidOption(f"{key} cannot follow lowerdir=")
        if not value:
            raise InvalidOption(f"{key}: empty value")
        if key == "datadir+":
            if not self.lowers:
                raise InvalidOption("datadir+ needs at least one lowerdir+ before it")
            self.datas.append(value)
        elif self.datas:
            raise InvalidOption("regular lower layers cannot follow data lower layers")
        else:
            self.lowers.append(value)

    def build(self) -> OverlayOptions:
        return OverlayOptions(
            lowerdirs=tuple(self.lowers),
            upperdir=self.dirs.get("upperdir"),
            workdir=self.dirs.get("workdir"),
            datadirs=tuple(self.datas),
            settings=tuple(self.settings),
            flags=tuple(self.flags),
        )


def _parse_lowerdir(value: str) -> tuple[list[str], list[str]]:
    """`A:B::C::D` -> (["A", "B"], ["C", "D"]): each `::` introduces a data-only layer,
    and no regular layer may follow one (the kernel's rules)."""
    parts = split_unescaped(value, ":")
    if parts[0] == "":
        raise InvalidOption("lowerdir: cannot start with ':' (cannot append a lower layer)")
    if parts[-1] == "":
        raise InvalidOption("lowerdir: unescaped trailing ':'")
    lowers, datas = [unescape(parts[0])], []
    i = 1
    while i < len(parts):
        if parts[i] == "":  # the empty part between the two colons of "::"
            i += 1
            if parts[i] == "":
                raise InvalidOption("lowerdir: only single ':' or double '::' separators")
            datas.append(unescape(parts[i]))
        elif datas:
            raise InvalidOption("lowerdir: regular layers cannot follow data layers ('::')")
        else:
            lowers.append(unescape(parts[i]))
        i += 1
    return lowers, datas


def _check_setting(key: str, value: str | None) -> None:
    if key not in _CHOICES:
        if key in VFS_FLAGS:
            raise InvalidOption(f"{key}: a flag, it takes no value")
        close = difflib.get_close_matches(key, KNOWN_OPTIONS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidOption(f"unknown overlay mount option {key!r}{hint}")
    choices = _CHOICES[key]
    if choices is None:
        if value:
            raise InvalidOption(f"{key}: a flag, it takes no value")
        return
    if value is None or value not in choices:
        raise InvalidOption(f"{key}: value must be one of {'|'.join(choices)}, not {value!r}")
