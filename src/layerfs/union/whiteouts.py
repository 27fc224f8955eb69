"""Whiteouts, opaque directories and redirects: the only module that knows their names.

Four on-disk forms exist (see OVERLAY-SEMANTICS.md). All are *read* everywhere; one,
the configured `WhiteoutFormat`, is *written*:

- ``KERNEL``: a whiteout is a 0/0 character device; an opaque directory carries
  ``trusted.overlay.opaque=y``; redirects are ``trusted.overlay.redirect``.
- ``USERXATTR``: the same device whiteouts, markers under ``user.overlay.*`` (what the
  kernel writes with the ``userxattr`` mount option, i.e. unprivileged mounts).
- ``XATTR``: "xattr whiteouts": an empty regular file carrying ``<prefix>.overlay.whiteout``,
  honoured only when its parent has ``<prefix>.overlay.opaque=x``. Used where mknod of a
  device is refused but xattrs work. Written with the trusted prefix as root, user otherwise.
- ``OCI``: AUFS-style names: ``.wh.NAME`` deletes NAME, ``.wh..wh..opq`` makes its directory
  opaque. Inside layer tars always; on disk only as the last-resort fallback.

Every function here takes real paths (or a directory fd plus a name) inside one layer;
none of them looks at more than one layer. Functions that write never raise for
"already in that state" (they are idempotent) and raise `OSError` otherwise.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass

TRUSTED = "trusted.overlay."
USER = "user.overlay."
PREFIXES = (TRUSTED, USER)

OCI_PREFIX = ".wh."
OCI_OPAQUE = ".wh..wh..opq"

OPAQUE = "opaque"
REDIRECT = "redirect"
WHITEOUT = "whiteout"
ORIGIN = "origin"
IMPURE = "impure"
UUID = "uuid"
METACOPY = "metacopy"


class WhiteoutFormat(enum.Enum):
    """Which on-disk form a writer produces (readers accept every form)."""

    KERNEL = "kernel"
    USERXATTR = "userxattr"
    XATTR = "xattr"
    OCI = "oci"

    @property
    def prefix(self) -> str:
        """The xattr namespace this format writes overlay markers in."""
        if self is WhiteoutFormat.KERNEL:
            return TRUSTED
        if self is WhiteoutFormat.USERXATTR:
            return USER
        return TRUSTED if os.geteuid() == 0 else USER

    @classmethod
    def default(cls) -> WhiteoutFormat:
        """KERNEL as root, USERXATTR otherwise (callers probe and fall back further)."""
        return cls.KERNEL if os.geteuid() == 0 else cls.USERXATTR


class EntryKind(enum.Enum):
    """What a name is inside one layer."""

    ABSENT = "absent"
    WHITEOUT = "whiteout"
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    SPECIAL = "special"  # fifo, socket, device other than a whiteout


@dataclass(frozen=True)
class LayerEntry:
    """One name in one layer: its kind, lstat result (None if absent/OCI whiteout)."""

    kind: EntryKind
    st: os.stat_result | None = None


# --------------------------------------------------------------------------- xattrs


def _getxattr(path: str | int, name: str) -> bytes | None:
    try:
        if isinstance(path, int):  # an fd is never followed; Python refuses the flag with one
            return os.getxattr(path, name)
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENODATA, errno.ENOTSUP, errno.EPERM, errno.EACCES, errno.ENOENT):
            return None
        raise


def overlay_xattr(path: str | int, key: str) -> bytes | None:
    """The value of the overlay marker `key` (e.g. "opaque") under either prefix, or None."""
    for prefix in PREFIXES:
        v = _getxattr(path, prefix + key)
        if v is not None:
            return v
    return None


def is_overlay_private(name: str) -> bool:
    """True for xattrs the overlay keeps for itself (hidden from the merged view).

    Escaped names (``trusted.overlay.overlay.X``) are not private: they are shown as
    ``trusted.overlay.X``.
    """
    for prefix in PREFIXES:
        if name.startswith(prefix):
            return not name.startswith(prefix + "overlay.")
    return False


def visible_xattr_name(name: str) -> str | None:
    """How a real xattr of a layer appears in the merged view; None if hidden."""
    for prefix in PREFIXES:
        if name.startswith(prefix + "overlay."):
            return prefix + name[len(prefix) + len("overlay.") :]
    if is_overlay_private(name):
        return None
    return name


def stored_xattr_name(name: str) -> str:
    """The real xattr name that stores `name` set through the merged view (escaping)."""
    for prefix in PREFIXES:
        if name.startswith(prefix):
            return prefix + "overlay." + name[len(prefix) :]
    return name


def copyable_xattr(name: str) -> bool:
    """True if copy-up carries this xattr to the upper layer (not overlay-private)."""
    return not is_overlay_private(name)


# --------------------------------------------------------------------------- reading


def is_device_whiteout(st: os.stat_result) -> bool:
    """A 0/0 character device: the kernel's whiteout."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(dirpath: str | int) -> bool:
    """True if the directory hides same-named directories of lower layers.

    Reads ``*.overlay.opaque=y`` under either prefix and the OCI marker file. The value
    "x" (set by the kernel to announce xattr whiteouts inside) is *not* opaque.
    """
    if overlay_xattr(dirpath, OPAQUE) == b"y":
        return True
    try:
        if isinstance(dirpath, int):
            os.stat(OCI_OPAQUE, dir_fd=dirpath, follow_symlinks=False)
        else:
            os.lstat(os.path.join(dirpath, OCI_OPAQUE))
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


def dir_markers(dirpath: str) -> tuple[bool, str | None]:
    """``(is_opaque(dirpath), redirect_of(dirpath))`` with one listxattr instead of up to
    four getxattr calls: only the marker names the directory carries are read."""
    try:
        names = os.listxattr(dirpath, follow_symlinks=False)
    except OSError:
        return is_opaque(dirpath), redirect_of(dirpath)
    opaque = _listed_marker(dirpath, names, OPAQUE) == b"y"
    if not opaque:
        try:
            os.lstat(os.path.join(dirpath, OCI_OPAQUE))
            opaque = True
        except (FileNotFoundError, NotADirectoryError):
            pass
    v = _listed_marker(dirpath, names, REDIRECT)
    return opaque, None if v is None else os.fsdecode(v)


def _listed_marker(path: str, names: list[str], key: str) -> bytes | None:
    """`overlay_xattr` restricted to the xattr `names` listed for `path`."""
    for prefix in PREFIXES:
        if prefix + key in names:
            v = _getxattr(path, prefix + key)
            if v is not None:
                return v
    return None


def has_xattr_whiteouts(dirpath: str | int) -> bool:
    """True if the directory announces xattr whiteouts (``*.overlay.opaque=x``)."""
    return overlay_xattr(dirpath, OPAQUE) == b"x"


def redirect_of(dirpath: str | int) -> str | None:
    """The ``*.overlay.redirect`` target of a directory, decoded, or None."""
    v = overlay_xattr(dirpath, REDIRECT)
    return None if v is None else os.fsdecode(v)


def is_metacopy(path: str | int) -> bool:
    """True for a metadata-only copy-up (``*.overlay.metacopy``): its data is below."""
    return overlay_xattr(path, METACOPY) is not None


def is_internal_name(name: str) -> bool:
    """Names that never appear in a merged view (OCI markers)."""
    return name.startswith(OCI_PREFIX)


def classify(parent: str, name: str, st: os.stat_result | None = None) -> LayerEntry:
    """What `name` is inside the layer directory `parent` (a real path).

    Looks at the name itself, an OCI ``.wh.NAME`` sibling, and xattr whiteouts. `st` may
    pass a known lstat of ``parent/name``. Never raises for a missing name (ABSENT).
    """
    full = os.path.join(parent, name)
    if st is None:
        try:
            st = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            st = None
    if st is None:
        if _oci_whiteout_exists(parent, name):
            return LayerEntry(EntryKind.WHITEOUT)
        return LayerEntry(EntryKind.ABSENT)
    return LayerEntry(_kind_of(full, st, parent), st)


def _oci_name_fits(name: str) -> bool:
    """True if ``.wh.NAME`` is a legal file name (255 bytes, not characters)."""
    return len(name) <= 251 and len(os.fsencode(name)) + len(OCI_PREFIX) <= 255


def _oci_whiteout_exists(parent: str, name: str) -> bool:
    if not _oci_name_fits(name):
        return False
    try:
        os.lstat(os.path.join(parent, OCI_PREFIX + name))
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


def _kind_of(full: str, st: os.stat_result, parent: str | None) -> EntryKind:
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        return EntryKind.DIR
    if stat.S_ISREG(mode):
        if st.st_size == 0 and parent is not None and _is_xattr_whiteout(full, parent):
            return EntryKind.WHITEOUT
        return EntryKind.FILE
    if stat.S_ISLNK(mode):
        return EntryKind.SYMLINK
    if is_device_whiteout(st):
        return EntryKind.WHITEOUT
    return EntryKind.SPECIAL


def _is_xattr_whiteout(full: str, parent: str) -> bool:
    return overlay_xattr(full, WHITEOUT) is not None and has_xattr_whiteouts(parent)


@dataclass(frozen=True)
class LayerDir:
    """One directory of one layer, scanned once.

    `entries` maps each visible name to its d_type-like kind (whiteouts excluded);
    `whiteouts` holds the names this directory deletes; `opaque` says whether lower
    layers are hidden. Internal marker names never appear in either.
    """

    entries: dict[str, EntryKind]
    whiteouts: frozenset[str]
    opaque: bool


def scan_dir(dirpath: str) -> LayerDir:
    """Scan a real layer directory. Raises OSError (ENOENT, ENOTDIR) like scandir."""
    entries: dict[str, EntryKind] = {}
    whiteouts: set[str] = set()
    opaque_oci = False
    marker = overlay_xattr(dirpath, OPAQUE)
    xattr_wh = marker == b"x"  # only then can an empty regular file be a whiteout
    with os.scandir(dirpath) as it:
        for de in it:
            name = de.name
            if name.startswith(OCI_PREFIX):
                if name == OCI_OPAQUE:
                    opaque_oci = True
                else:
                    whiteouts.add(name[len(OCI_PREFIX) :])
                continue
            if de.is_dir(follow_symlinks=False):
                entries[name] = EntryKind.DIR
            elif de.is_symlink():
                entries[name] = EntryKind.SYMLINK
            elif de.is_file(follow_symlinks=False):
                kind = EntryKind.FILE
                if (
                    xattr_wh
                    and de.stat(follow_symlinks=False).st_size == 0
                    and overlay_xattr(de.path, WHITEOUT) is not None
                ):
                    kind = EntryKind.WHITEOUT
                if kind is EntryKind.WHITEOUT:
                    whiteouts.add(name)
                else:
                    entries[name] = kind
            else:
                st = de.stat(follow_symlinks=False)
                if is_device_whiteout(st):
                    whiteouts.add(name)
                else:
                    entries[name] = EntryKind.SPECIAL
    # OCI: a `.wh.NAME` hides NAME in lower layers only; NAME in this layer stays visible.
    whiteouts.difference_update(entries)
    opaque = opaque_oci or marker == b"y"
    return LayerDir(entries, frozenset(whiteouts), opaque)


# --------------------------------------------------------------------------- writing


def make_whiteout(parent: str, name: str, fmt: WhiteoutFormat) -> None:
    """Write a whiteout for `name` in the real directory `parent` (which must exist).

    Any existing entry at `name` must already have been removed by the caller; for the
    XATTR form the parent is marked ``opaque=x`` (not opaque). Idempotent.
    """
    full = os.path.join(parent, name)
    if fmt is WhiteoutFormat.OCI:
        marker = os.path.join(parent, OCI_PREFIX + name)
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o000)
        os.close(fd)
        return
    if fmt is WhiteoutFormat.XATTR:
        # user.* xattrs need write permission: set the marker before dropping the mode to 0.
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            os.setxattr(fd, fmt.prefix + WHITEOUT, b"")
            os.fchmod(fd, 0o000)
        finally:
            os.close(fd)
        if overlay_xattr(parent, OPAQUE) != b"y":
            os.setxattr(parent, fmt.prefix + OPAQUE, b"x", follow_symlinks=False)
        return
    try:
        os.mknod(full, stat.S_IFCHR | 0o000, os.makedev(0, 0))
    except FileExistsError:
        if not is_device_whiteout(os.lstat(full)):
            raise


def remove_whiteout(parent: str, name: str) -> bool:
    """Remove a whiteout of any form for `name` in `parent`; True if one was there."""
    removed = False
    if _oci_name_fits(name):
        try:
            os.unlink(os.path.join(parent, OCI_PREFIX + name))
            removed = True
        except FileNotFoundError:
            pass
    full = os.path.join(parent, name)
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        return removed
    if _kind_of(full, st, parent) is EntryKind.WHITEOUT:
        os.unlink(full)
        removed = True
    return removed


def make_opaque(dirpath: str, fmt: WhiteoutFormat) -> None:
    """Mark a real directory opaque in the configured form. Idempotent.

    Never call this on a directory that still holds whiteouts (the kernel treats that
    as corrupt); `clear_whiteouts` first.
    """
    if fmt is WhiteoutFormat.OCI:
        fd = os.open(os.path.join(dirpath, OCI_OPAQUE), os.O_WRONLY | os.O_CREAT, 0o000)
        os.close(fd)
        return
    os.setxattr(dirpath, fmt.prefix + OPAQUE, b"y", follow_symlinks=False)


def clear_opaque(dirpath: str) -> None:
    """Remove every opaque marker (both prefixes and the OCI file) from a directory."""
    for prefix in PREFIXES:
        try:
            os.removexattr(dirpath, prefix + OPAQUE, follow_symlinks=False)
        except OSError as e:
            if e.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EPERM):
                raise
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(dirpath, OCI_OPAQUE))


def clear_whiteouts(dirpath: str) -> list[str]:
    """Remove every whiteout (any form) inside a real directory; returns their names."""
    layer = scan_dir(dirpath)
    for name in layer.whiteouts:
        remove_whiteout(dirpath, name)
    return sorted(layer.whiteouts)


def set_redirect(dirpath: str, target: str, fmt: WhiteoutFormat) -> None:
    """Write the redirect xattr exactly as the kernel does (relative name or abs path)."""
    os.setxattr(dirpath, fmt.prefix + REDIRECT, os.fsencode(target), follow_symlinks=False)


def set_marker(path: str, key: str, value: bytes, fmt: WhiteoutFormat) -> None:
    """Write another overlay marker (origin, impure, uuid) in the format's namespace."""
    os.setxattr(path, fmt.prefix + key, value, follow_symlinks=False)


def oci_whiteout_name(name: str) -> str:
    """The tar member name that deletes `name` (``.wh.NAME``)."""
    return OCI_PREFIX + name


def parse_oci_name(name: str) -> tuple[str, str | None]:
    """Split a tar member basename: ("opaque", None), ("whiteout", NAME) or ("plain", name)."""
    if name == OCI_OPAQUE:
        return ("opaque", None)
    if name.startswith(OCI_PREFIX):
        return ("whiteout", name[len(OCI_PREFIX) :])
    return ("plain", name)


def marker_names() -> Iterable[str]:
    """Names of every overlay xattr either prefix may carry (for tests and fsck)."""
    for prefix in PREFIXES:
        for key in (OPAQUE, REDIRECT, WHITEOUT, ORIGIN, IMPURE, UUID):
            yield prefix + key
