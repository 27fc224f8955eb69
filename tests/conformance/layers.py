"""Layer fixtures as data: a `Stack` of lower layers (and an optional pre-filled upper dir)
that `build` writes, identically, into a fresh directory for each front end.

Everything is deterministic (content, modes, owners, xattrs, times), so two builds of one
`Stack` are equal except for inode numbers and ctimes. Whiteouts and opaque dirs are written
in the kernel's on-disk form (0/0 character devices, ``trusted.overlay.opaque=y``).
Building is fd-relative, so entries may lie deeper than PATH_MAX below the host root.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass, field

from layerfs.union import whiteouts

from .fsutil import magic, object_fd, open_dir_path, short_path, walk_bottom_up, write_all

# Every object of a built layer gets an mtime/atime below this; anything newer in a
# snapshot was written during the test (see snapshot.py).
FIXED_TIME_NS = 1_500_000_000_123_456_789

KINDS = ("file", "dir", "opaque", "symlink", "whiteout", "fifo", "hardlink")


@dataclass(frozen=True)
class Entry:
    """One object of a layer. `path` is relative to the layer root ("a/b").

    kind: "file" (data; `size` extends it with a hole), "dir", "opaque" (a dir marked
    opaque), "symlink" (target), "whiteout", "fifo", "hardlink" (target = the
    layer-relative path it links to). Missing parents are created as plain 0755 dirs.
    """

    path: str
    kind: str = "file"
    data: bytes = b""
    mode: int | None = None
    target: str = ""
    uid: int = 0
    gid: int = 0
    xattrs: tuple[tuple[str, bytes], ...] = ()
    size: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown entry kind {self.kind!r}")


def file(path: str, data: bytes | str = b"", mode: int = 0o644, **kw: object) -> Entry:
    """A regular file entry (str data is UTF-8 encoded)."""
    raw = data.encode() if isinstance(data, str) else data
    return Entry(path, "file", raw, mode, **kw)  # type: ignore[arg-type]


def dir_(path: str, mode: int = 0o755, **kw: object) -> Entry:
    """A directory entry."""
    return Entry(path, "dir", mode=mode, **kw)  # type: ignore[arg-type]


def opaque(path: str, mode: int = 0o755) -> Entry:
    """A directory marked opaque (hides the same dir of every lower layer)."""
    return Entry(path, "opaque", mode=mode)


def symlink(path: str, target: str) -> Entry:
    """A symbolic link entry."""
    return Entry(path, "symlink", target=target)


def whiteout(path: str) -> Entry:
    """A whiteout (0/0 character device) deleting `path` of the layers below."""
    return Entry(path, "whiteout")


def fifo(path: str, mode: int = 0o644) -> Entry:
    """A named pipe."""
    return Entry(path, "fifo", mode=mode)


def hardlink(path: str, target: str) -> Entry:
    """A second name for the layer's own `target` (same layer, relative path)."""
    return Entry(path, "hardlink", target=target)


@dataclass(frozen=True)
class Stack:
    """Lower layers top first (as ``lowerdir=``) plus the initial upper dir content."""

    lowers: tuple[tuple[Entry, ...], ...]
    upper: tuple[Entry, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        """A readable listing for failure messages."""
        lines = []
        for i, layer in enumerate(self.lowers):
            if len(self.lowers) > 12 and 6 <= i < len(self.lowers) - 3:
                if i == 6:
                    lines.append(f"  ... {len(self.lowers) - 9} more lower layers ...")
                continue
            lines.append(f"  lowerdir[{i}]: " + (", ".join(_describe(e) for e in layer) or "-"))
        if self.upper:
            lines.append("  upperdir: " + ", ".join(_describe(e) for e in self.upper))
        return "\n".join(lines)


def _describe(e: Entry) -> str:
    path = short_path(e.path, 80)
    if e.kind == "file":
        return f"{path}={e.data!r}"
    if e.kind in ("symlink", "hardlink"):
        return f"{path}->{e.target}({e.kind})"
    return f"{path}({e.kind})"


@dataclass(frozen=True)
class Dirs:
    """Real directories of one front end's copy: lowerdirs top first, upper, work."""

    lowerdirs: tuple[str, ...]
    upperdir: str
    workdir: str


def build(stack: Stack, base: str) -> Dirs:
    """Write `stack` under the new directory `base` (l0, l1, ..., upper, work)."""
    os.mkdir(base)
    lowerdirs = []
    for i, layer in enumerate(stack.lowers):
        path = os.path.join(base, f"l{i}")
        build_layer(layer, path)
        lowerdirs.append(path)
    upper = os.path.join(base, "upper")
    build_layer(stack.upper, upper)
    work = os.path.join(base, "work")
    os.mkdir(work)
    return Dirs(tuple(lowerdirs), upper, work)


def build_layer(entries: tuple[Entry, ...], path: str) -> None:
    """Create the layer directory `path` holding `entries`, then pin every time."""
    os.mkdir(path)
    os.chmod(path, 0o755)
    root = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for entry in entries:
            _make(root, entry)
        _pin_times(root)
    finally:
        os.close(root)


def _make(root: int, e: Entry) -> None:
    parent, _, name = e.path.rpartition("/")
    _makedirs(root, parent)
    pfd = open_dir_path(root, parent)
    try:
        _make_in(pfd, name, e, root)
        if e.kind != "hardlink":
            os.chown(name, e.uid, e.gid, dir_fd=pfd, follow_symlinks=False)
        with object_fd(pfd, name) as ofd:
            for key, value in e.xattrs:
                os.setxattr(magic(ofd), key, value)
            if e.kind == "opaque":
                os.setxattr(magic(ofd), whiteouts.TRUSTED + whiteouts.OPAQUE, b"y")
            if e.mode is not None and e.kind not in ("symlink", "whiteout", "hardlink"):
                os.chmod(magic(ofd), e.mode)
    finally:
        os.close(pfd)


def _make_in(pfd: int, name: str, e: Entry, root: int) -> None:
    if e.kind == "file":
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600,
                     dir_fd=pfd)
        try:
            write_all(fd, e.data)
            if e.size is not None:
                os.ftruncate(fd, e.size)
        finally:
            os.close(fd)
    elif e.kind in ("dir", "opaque"):
        os.mkdir(name, 0o700, dir_fd=pfd)
    elif e.kind == "symlink":
        os.symlink(e.target, name, dir_fd=pfd)
    elif e.kind == "whiteout":
        os.mknod(name, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)
    elif e.kind == "fifo":
        os.mkfifo(name, 0o600, dir_fd=pfd)
    else:  # hardlink
        os.link(e.target, name, src_dir_fd=root, dst_dir_fd=pfd, follow_symlinks=False)


def _makedirs(root: int, relpath: str) -> None:
    fd = os.dup(root)
    try:
        for comp in (c for c in relpath.split("/") if c):
            with contextlib.suppress(FileExistsError):
                os.mkdir(comp, 0o755, dir_fd=fd)
            nfd = os.open(comp, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                          dir_fd=fd)
            os.close(fd)
            fd = nfd
    finally:
        os.close(fd)


def _pin_times(dirfd: int) -> None:
    """Set atime = mtime = FIXED_TIME_NS on everything below `dirfd` and on itself
    (children first, so that no later write moves a parent's mtime)."""
    for parent, name, _ in walk_bottom_up(dirfd):
        os.utime(name, ns=(FIXED_TIME_NS, FIXED_TIME_NS), dir_fd=parent,
                 follow_symlinks=False)
    os.utime(magic(dirfd), ns=(FIXED_TIME_NS, FIXED_TIME_NS))
