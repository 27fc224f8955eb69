"""`UnionView`: OverlayFS semantics over plain directories, as a library (docs/UNION-API.md).

A view is cheap. It caches resolved parent directories between calls and clears that
cache whenever a write changes a directory (`engine.DirCache`), so the upper layer must
change only through the view while the view is used (lower layers must not change at all,
as for the kernel); several views (or a view and a kernel mount of the same dirs) may be
used one after the other. Calls
are not atomic with respect to each other; callers that write concurrently serialise
themselves (the FUSE server does).

What the upper layer looks like after each operation is what the kernel writes with its
default options (redirect_dir=off unless asked, index=off, metacopy=off, xino=off),
including ``overlay.origin`` on copied-up objects and ``overlay.impure`` on their upper
parents. Two differences, on purpose: the view writes no ``overlay.uuid`` on the upper
root (the kernel writes a random one at mount time; a view is not a mount), and each
whiteout is its own 0/0 device instead of a hard link to one shared ``work/#N`` object.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from layerfs.errors import oserror
from layerfs.union import mutate
from layerfs.union.access import sticky_create_denied
from layerfs.union.checks import validate
from layerfs.union.engine import MAX_SYMLINKS, Engine, in_upper, is_merged_dir
from layerfs.union.layerstack import Layer, Probe, Step
from layerfs.union.longpath import shorten
from layerfs.union.readdir import DirEntry, listing
from layerfs.union.rename import rename as _rename
from layerfs.union.whiteouts import EntryKind, WhiteoutFormat, stored_xattr_name, visible_xattr_name

if TYPE_CHECKING:
    from layerfs.union.trace import Trace

__all__ = ["DirEntry", "Node", "UnionView"]

_WRITE = os.O_WRONLY | os.O_RDWR


@dataclass(frozen=True)
class Node:
    """What the union shows at a path.

    `path`: the normalized union path (intermediate symlinks resolved); `realpath`: the
    top real object; `layer`: 0 = upperdir, i = ``lowerdirs[i-1]``; `kind`; `st`: lstat of
    the real object (a merged directory reports st_nlink 1); `sources`: the real objects
    that make up the entry, top first (several for a merged directory); `layers`: the
    layer index of each source.
    """

    path: str
    realpath: str
    layer: int
    kind: EntryKind
    st: os.stat_result
    sources: tuple[str, ...]
    layers: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Layer(Layer):
    """A layer whose real paths stay usable beyond PATH_MAX (see `longpath`)."""

    def real(self, relpath: str) -> str:
        return shorten(super().real(relpath))


def _with_nlink(st: os.stat_result, nlink: int) -> os.stat_result:
    seq = list(st[:10])
    seq[3] = nlink
    extra = {
        k: getattr(st, k)
        for k in ("st_atime", "st_mtime", "st_ctime", "st_atime_ns", "st_mtime_ns",
                  "st_ctime_ns", "st_blksize", "st_blocks", "st_rdev")
    }
    return os.stat_result(seq, extra)


def _stat_of(probe: Probe) -> os.stat_result:
    return probe.entry.st if probe.entry.st is not None else os.lstat(probe.realpath)


def _node(path: str, step: Step) -> Node:
    top = step.sources[0]
    st = top.entry.st if top.entry.st is not None else os.lstat(top.realpath)
    if is_merged_dir(step):
        st = _with_nlink(st, 1)
    return Node(
        path=path,
        realpath=top.realpath,
        layer=top.layer.index,
        kind=top.entry.kind,
        st=st,
        sources=tuple(p.realpath for p in step.sources),
        layers=tuple(p.layer.index for p in step.sources),
    )


class UnionView:
    """An overlay of `lowerdirs` (top first) and an optional upperdir/workdir.

    The constructor validates the directories (`layerfs.errors.InvalidOption`, nothing
    written) and creates ``workdir/work`` (mode 0 as the kernel as root, 0700 for an
    ordinary user, who needs the permission to use it). Without an upperdir
    every writing call raises ``OSError(EROFS)``. `whiteouts` is the form written
    (default `WhiteoutFormat.default()`); every form is read. `redirect_dir` selects the
    kernel's redirect_dir=on behaviour for directory renames (EXDEV otherwise).
    """

    def __init__(
        self,
        lowerdirs: Sequence[str],
        upperdir: str | None = None,
        workdir: str | None = None,
        *,
        whiteouts: WhiteoutFormat | None = None,
        redirect_dir: bool = False,
    ) -> None:
        lowers, upper, work = validate(lowerdirs, upperdir, workdir)
        layers = [] if upper is None else [_Layer(0, upper)]
        layers.extend(_Layer(i, d) for i, d in enumerate(lowers, start=1))
        self.lowerdirs: tuple[str, ...] = tuple(lowers)
        self.upperdir = upper
        self.workdir = work
        self.redirect_dir = redirect_dir
        self.whiteouts = whiteouts or WhiteoutFormat.default()
        self._eng = Engine(tuple(layers), upper, work, self.whiteouts, redirect_dir)
        if work is not None:
            # mode 0 as the kernel (root needs no permission bits); an ordinary user
            # needs 0700 to copy up or rename through it
            with contextlib.suppress(FileExistsError):
                os.mkdir(os.path.join(work, "work"), 0o000 if os.geteuid() == 0 else 0o700)

    def __repr__(self) -> str:
        return (f"UnionView(lowerdirs={list(self.lowerdirs)!r}, upperdir={self.upperdir!r}, "
                f"workdir={self.workdir!r})")

    @property
    def readonly(self) -> bool:
        """True without an upperdir."""
        return self.upperdir is None

    # ------------------------------------------------------------------ reading

    def lookup(self, path: str) -> Node:
        """The `Node` at `path` (a final symlink is not followed). ENOENT, ENOTDIR, ..."""
        res = self._eng.find(path)
        return _node(res.path, res.final)

    def lstat(self, path: str) -> os.stat_result:
        """lstat of the top object; a merged directory reports st_nlink 1."""
        return self.lookup(path).st

    def stat(self, path: str) -> os.stat_result:
        """stat: like `lstat`, a final symlink followed inside the union."""
        res = self._eng.find(path, follow=True)
        return _node(res.path, res.final).st

    def exists(self, path: str) -> bool:
        """True if `path` names something (a dangling symlink counts)."""
        try:
            self._eng.find(path)
        except OSError:
            return False
        return True

    def readlink(self, path: str) -> str:
        """The target of a symlink (EINVAL for anything else)."""
        node = self.lookup(path)
        if node.kind is not EntryKind.SYMLINK:
            raise oserror(errno.EINVAL, path)
        return os.readlink(node.realpath)

    def readdir(self, path: str) -> list[DirEntry]:
        """The directory (symlinks followed) as the kernel lists it (`readdir.listing`).

        A merged directory: upper first, then lowers, whited-out names left out.
        """
        res = self._eng.find_dir(path)
        return listing(res.final)

    def listdir(self, path: str) -> list[str]:
        """The names of `readdir`, in the same order."""
        return [e.name for e in self.readdir(path)]

    def open(self, path: str, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
        """A real fd of the top object (the caller closes it).

        Write access or O_TRUNC copies a lower regular file up first (O_TRUNC: without
        its data); O_CREAT on a missing name creates it in the upperdir (mode minus the
        umask); O_EXCL on an existing name: EEXIST. A final symlink is followed inside
        the union unless O_NOFOLLOW (then ELOOP, or an O_PATH fd of the symlink).
        """
        if flags & (_WRITE | os.O_TRUNC | os.O_CREAT):
            with self._eng.cache.writing(keeps_dirs=True):
                return self._open(path, flags, mode)
        return self._open(path, flags, mode)

    def _open(self, path: str, flags: int, mode: int, hops: int = 0) -> int:
        eng = self._eng
        if flags & os.O_CREAT:
            parent, name = eng.parent_of(path)
            child = None if name in ("", ".", "..") else eng.child(parent, name)
            if child is not None and not child.found:
                return mutate.create_fd(eng, path, flags, mode, (parent, name))
            if flags & os.O_EXCL:
                raise oserror(errno.EEXIST, path)
            top = child.sources[0] if child is not None else None
            if top is not None and top.entry.kind is EntryKind.SYMLINK and \
                    not flags & os.O_NOFOLLOW:
                # O_CREAT through a symlink creates its target (inside the union)
                if hops >= MAX_SYMLINKS:
                    raise oserror(errno.ELOOP, path)
                target = posixpath.join(parent.path, os.readlink(top.realpath))
                return self._open(target, flags, mode, hops + 1)
            if top is not None:
                if top.entry.kind is EntryKind.DIR:
                    raise oserror(errno.EISDIR, path)
                if sticky_create_denied(_stat_of(parent.final.sources[0]), _stat_of(top)):
                    raise oserror(errno.EACCES, path)
        nofollow = bool(flags & os.O_NOFOLLOW)
        res = eng.find(path, follow=not nofollow)
        step = res.final
        kind = step.sources[0].entry.kind
        writing = bool(flags & _WRITE) or bool(flags & os.O_TRUNC)
        real_flags = flags & ~(os.O_CREAT | os.O_EXCL)
        if kind is EntryKind.SYMLINK:
            if not flags & os.O_PATH:
                raise oserror(errno.ELOOP, path)
            return os.open(step.sources[0].realpath, real_flags | os.O_NOFOLLOW)
        if kind is EntryKind.DIR and writing:
            raise oserror(errno.EISDIR, path)
        if writing and self.upperdir is None:
            raise oserror(errno.EROFS, path)
        if writing and kind is EntryKind.FILE and not in_upper(step):
            real = mutate.ensure_upper(eng, res, with_data=not flags & os.O_TRUNC)
        else:
            data = next((p for p in step.sources if p.outcome == "data"), step.sources[0])
            real = data.realpath
        return os.open(real, real_flags | os.O_NOFOLLOW)

    def read_bytes(self, path: str) -> bytes:
        """The content of the file at `path` (symlinks followed)."""
        fd = self.open(path, os.O_RDONLY | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            return f.read()

    def getxattr(self, path: str, name: str) -> bytes:
        """An xattr of the top object as the merged view shows it (ENODATA if none)."""
        node = self.lookup(path)
        return os.getxattr(node.realpath, stored_xattr_name(name), follow_symlinks=False)

    def listxattr(self, path: str) -> list[str]:
        """The visible xattr names (overlay markers hidden, escaped names unescaped)."""
        node = self.lookup(path)
        try:
            names = os.listxattr(node.realpath, follow_symlinks=False)
        except OSError as e:
            if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
                return []
            raise
        return [v for v in map(visible_xattr_name, names) if v is not None]

    def statfs(self) -> os.statvfs_result:
        """statvfs of the upperdir (of the top lowerdir for a read-only view)."""
        return os.statvfs(self.upperdir if self.upperdir is not None else self.lowerdirs[0])

    def trace(self, path: str) -> Trace:
        """Layer by layer, what `path` is and which layer wins (`layerfs.union.trace`)."""
        from layerfs.union.trace import trace_layers

        return trace_layers(self.lowerdirs, self.upperdir, path)

    # ------------------------------------------------------------------ writing

    def create(self, path: str, mode: int = 0o644) -> int:
        """creat(2): open for writing, created or truncated; returns the fd."""
        return self.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)

    def write_bytes(self, path: str, data: bytes, mode: int = 0o666) -> None:
        """Create or truncate `path` and write `data` to it."""
        fd = self.create(path, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)

    def mkdir(self, path: str, mode: int = 0o777) -> None:
        """mkdir (over a whiteout: an opaque directory)."""
        with self._eng.cache.writing(keeps_dirs=True):
            mutate.mkdir(self._eng, path, mode)

    def symlink(self, target: str, path: str) -> None:
        """Create a symlink at `path` pointing to `target`."""
        with self._eng.cache.writing(keeps_dirs=True):
            mutate.symlink(self._eng, target, path)

    def mknod(self, path: str, mode: int, device: int = 0) -> None:
        """mknod(2): fifo, socket, device or regular file."""
        with self._eng.cache.writing(keeps_dirs=True):
            mutate.mknod(self._eng, path, mode, device)

    def truncate(self, path: str, length: int) -> None:
        """truncate(2) (copies a lower file up with its data first)."""
        with self._eng.cache.writing(keeps_dirs=True):
            mutate.truncate(self._eng, path, length)

    def unlink(self, path: str) -> None:
        """Remove a non-directory (a whiteout stays where a lower layer has the name)."""
        with self._eng.cache.writing(keeps_dirs=True):
            mutate.unlink(self._eng, path)

    def rmdir(self, path: str) -> None:
        """Remove an empty directory (ENOTEMPTY if the merged view shows any name)."""
        with self._eng.cache.writing():
            mutate.rmdir(self._eng, path)

    def rename(self, old: str, new: str) -> None:
        """rename(2) with the kernel's rules (see `layerfs.union.rename`)."""
        with self._eng.cache.writing():
            _rename(self._eng, old, new)

    def link(self, existing: str, new: str) -> None:
        """Hard link (EPERM for a directory); the existing object is copied up first."""
        with self._eng.cache.writing(keeps_dirs=True):
            mutate.link(self._eng, existing, new)

    def chmod(self, path: str, mode: int) -> None:
        """chmod (copy-up first; a final symlink is not followed: EOPNOTSUPP)."""
        with self._eng.cache.writing():
            mutate.chmod(self._eng, path, mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        """lchown (copy-up first); -1 keeps a value."""
        with self._eng.cache.writing():
            mutate.chown(self._eng, path, uid, gid)

    def utimens(self, path: str, ns: tuple[int, int] | None = None) -> None:
        """Set (atime_ns, mtime_ns), or both to now with None (copy-up first)."""
        with self._eng.cache.writing():
            mutate.utimens(self._eng, path, ns)

    def setxattr(self, path: str, name: str, value: bytes, flags: int = 0) -> None:
        """Set an xattr (copy-up first; overlay names escaped as the kernel does)."""
        with self._eng.cache.writing():
            mutate.setxattr(self._eng, path, name, value, flags)

    def removexattr(self, path: str, name: str) -> None:
        """Remove an xattr (ENODATA without copy-up if it is not there)."""
        with self._eng.cache.writing():
            mutate.removexattr(self._eng, path, name)

    def copy_up(self, path: str) -> str:
        """Copy `path` and its parents up (idempotent); returns the upper real path."""
        with self._eng.cache.writing():
            return mutate.copy_up(self._eng, path)
