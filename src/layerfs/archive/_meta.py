"""Metadata of extracted tar members: owners, modes, xattrs and times, fd-relative.

The policy (`Policy`) says what a layer from a stranger may carry: ownership and device
nodes need privilege; setuid/setgid bits and ``security.capability`` are kept only with
`keep_privileged`; overlay-private xattrs (``trusted.overlay.*``, ``user.overlay.*``) are
never honoured as markers: with `keep_privileged` they are stored escaped (the kernel
shows ``trusted.overlay.overlay.X`` as ``trusted.overlay.X``), otherwise dropped.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from layerfs.archive._fdtree import proc_path
from layerfs.errors import InvalidLayer
from layerfs.union.whiteouts import PREFIXES, stored_xattr_name

XATTR_PAX = "SCHILY.xattr."
CAPABILITY = "security.capability"


@dataclass
class Policy:
    """What extraction may do, and the notes it made (mutable: one per apply)."""

    privileged: bool
    keep_privileged: bool
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(text)


def member_xattrs(member: tarfile.TarInfo) -> dict[str, bytes]:
    """The xattrs a member carries as PAX ``SCHILY.xattr.NAME`` records (raw bytes)."""
    out: dict[str, bytes] = {}
    for key, value in member.pax_headers.items():
        if key.startswith(XATTR_PAX):
            name = key[len(XATTR_PAX) :]
            if not name or "\x00" in name:
                raise InvalidLayer(f"member {member.name!r}: malformed xattr name {key!r}")
            out[name] = value.encode("utf-8", "surrogateescape")
    return out


def mtime_ns(member: tarfile.TarInfo, key: str = "mtime") -> int:
    """A member's time in ns: exact from the PAX record when present, else the header's."""
    text = member.pax_headers.get(key)
    if text is not None:
        try:
            return int(Decimal(text) * 1_000_000_000)
        except (InvalidOperation, ValueError):
            raise InvalidLayer(f"member {member.name!r}: malformed PAX {key} {text!r}") from None
    return int(member.mtime) * 1_000_000_000


def file_mode(member: tarfile.TarInfo, policy: Policy, *, is_dir: bool) -> int:
    """The permission bits to set; setuid/setgid of non-directories need keep_privileged."""
    mode = member.mode & 0o7777
    if not is_dir and mode & (stat.S_ISUID | stat.S_ISGID) and not policy.keep_privileged:
        policy.note(f"{member.name}: setuid/setgid bits dropped")
        mode &= ~(stat.S_ISUID | stat.S_ISGID)
    return mode


def _xattr_target(name: str, member: tarfile.TarInfo, policy: Policy) -> str | None:
    """The real xattr name to store `name` under, or None to drop it."""
    if any(name.startswith(p) for p in PREFIXES):
        if not policy.keep_privileged:
            policy.note(f"{member.name}: overlay xattr {name} dropped")
            return None
        return stored_xattr_name(name)
    if name == CAPABILITY and not policy.keep_privileged:
        policy.note(f"{member.name}: {CAPABILITY} dropped")
        return None
    return name


def set_xattrs(target: int | str, member: tarfile.TarInfo, policy: Policy) -> None:
    """Set the member's xattrs on an fd (files, dirs) or a /proc path (symlinks).

    Refusals of the filesystem or of privilege (EPERM, ENOTSUP, EACCES) become notes,
    as docker does; other errors propagate.
    """
    for name, value in sorted(member_xattrs(member).items()):
        real = _xattr_target(name, member, policy)
        if real is None:
            continue
        try:
            if isinstance(target, int):
                os.setxattr(target, real, value)
            else:
                os.setxattr(target, real, value, follow_symlinks=False)
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EACCES):
                raise
            policy.note(f"{member.name}: xattr {name} not set ({os.strerror(e.errno)})")


def chown(member: tarfile.TarInfo, policy: Policy, fd: int | None = None,
          dir_fd: int | None = None, name: str | None = None) -> None:
    """Numeric uid/gid from the header (names ignored), only when privileged."""
    if not policy.privileged:
        return
    if fd is not None:
        os.fchown(fd, member.uid, member.gid)
    else:
        os.chown(name, member.uid, member.gid, dir_fd=dir_fd,  # type: ignore[arg-type]
                 follow_symlinks=False)


def finish_fd(fd: int, member: tarfile.TarInfo, policy: Policy, *, is_dir: bool) -> None:
    """Owner, mode, xattrs (after chown, which clears capabilities) and times of an fd."""
    chown(member, policy, fd=fd)
    os.fchmod(fd, file_mode(member, policy, is_dir=is_dir))
    set_xattrs(fd, member, policy)
    mt = mtime_ns(member)
    at = mtime_ns(member, "atime") if "atime" in member.pax_headers else mt
    os.utime(fd, ns=(at, mt))


def finish_link(dir_fd: int, name: str, member: tarfile.TarInfo, policy: Policy) -> None:
    """Owner, xattrs and times of a symlink (never followed); its mode means nothing."""
    chown(member, policy, dir_fd=dir_fd, name=name)
    set_xattrs(proc_path(dir_fd, name), member, policy)
    mt = mtime_ns(member)
    os.utime(name, ns=(mt, mt), dir_fd=dir_fd, follow_symlinks=False)


def finish_node(dir_fd: int, name: str, member: tarfile.TarInfo, policy: Policy) -> None:
    """Owner, mode, xattrs and times of a fifo or device, without opening it."""
    chown(member, policy, dir_fd=dir_fd, name=name)
    os.chmod(name, file_mode(member, policy, is_dir=False), dir_fd=dir_fd)
    set_xattrs(proc_path(dir_fd, name), member, policy)
    mt = mtime_ns(member)
    os.utime(name, ns=(mt, mt), dir_fd=dir_fd, follow_symlinks=False)
