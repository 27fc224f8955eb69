"""Apply a layer tar to a directory in overlay on-disk form, safely.

The tar comes from a stranger (DESIGN.md idea 6). Extraction is fd-relative and never
follows a symlink (`FdTree`); names are validated (`split_name`); hard links may only
point at members already extracted by this tar; device nodes need privilege. OCI
markers become the configured whiteout format through `layerfs.union.whiteouts`:
``.wh.NAME`` a whiteout, ``.wh..wh..opq`` an opaque directory; marker files are not kept.

A later member with the same name replaces the earlier one (a directory over a
directory merges). Opaque markers affect only lower layers, so entries of this layer
written before the marker stay; whiteouts inside an opaque directory are redundant and
are not written (the kernel treats an opaque directory holding whiteouts as corrupt).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from layerfs.archive import _meta
from layerfs.archive._fdtree import FdTree, proc_path
from layerfs.archive._io import HashingReader
from layerfs.archive._names import split_name
from layerfs.digest import Digest
from layerfs.errors import InvalidLayer, LayerfsError
from layerfs.union import whiteouts as wh
from layerfs.union.whiteouts import WhiteoutFormat

_READ = 64 * 1024  # tarfile's stream buffer: headers are sliced out of it, keep it modest
_CHUNK = 1 << 20
_ENV_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM)
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class ApplyResult:
    """What `apply_tar` did: the tar's diff_id and size, members read, and notes.

    `whiteouts` counts whiteouts and opaque markers applied; `notes` lists what was
    dropped or skipped by policy (device nodes without privilege, setuid bits,
    privileged xattrs), one line each, naming the member.
    """

    diff_id: Digest
    size: int
    entries: int
    whiteouts: int = 0
    notes: tuple[str, ...] = ()


class _BadHeader(tarfile.TarInfo):
    """A TarInfo whose corrupt or truncated headers raise instead of ending the archive.

    tarfile treats a bad header after the first member as the end of the archive; a
    layer cut short or with garbage inside must be refused, not applied in part.
    """

    @classmethod
    def fromtarfile(cls, tf: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tf)
        except (tarfile.InvalidHeaderError, tarfile.TruncatedHeaderError) as e:
            raise InvalidLayer(f"layer tar: bad header at offset {tf.offset}: {e}") from None


def apply_tar(
    stream: BinaryIO,
    dest: str,
    *,
    fmt: WhiteoutFormat,
    privileged: bool | None = None,
    keep_privileged: bool | None = None,
) -> ApplyResult:
    """Extract the UNCOMPRESSED tar `stream` into the existing empty directory `dest`.

    The diff_id is computed while reading (the whole stream, padding included, is
    consumed; the stream is not closed). `privileged` (default: running as root) allows
    ownership and device nodes; without it device nodes are skipped, as docker does in a
    user namespace. `keep_privileged` (default: `privileged`) keeps setuid/setgid bits,
    ``security.capability`` and escaped overlay xattrs; otherwise they are dropped.
    Hostile or malformed input raises InvalidLayer naming the member and the reason;
    nothing is ever written outside `dest`, but `dest` may hold partial content then
    (the caller discards it). Errors of the environment (ENOSPC, EIO...) stay OSErrors.
    """
    if privileged is None:
        privileged = os.geteuid() == 0
    policy = _meta.Policy(privileged, privileged if keep_privileged is None else keep_privileged)
    reader = HashingReader(stream)
    tree = FdTree(dest)
    try:
        job = _Apply(tree, fmt, policy)
        with _parsing("at the start"):
            tf = tarfile.open(fileobj=reader, mode="r|", bufsize=_READ, tarinfo=_BadHeader)  # noqa: SIM115
        with tf:
            while True:
                with _parsing(f"after member {job.last!r}"):
                    member = tf.next()
                if member is None:
                    break
                job.member(tf, member)
                _skip_rest(tf, member)
                tf.members.clear()  # tarfile keeps every member otherwise
        job.finish_dirs()
        reader.drain()
    finally:
        tree.close()
    return ApplyResult(reader.digest(), reader.size, job.count, job.whiteouts,
                       tuple(policy.notes))


@contextlib.contextmanager
def _member_errors(m: tarfile.TarInfo) -> Iterator[None]:
    """Errors a member's content provokes (bad values, EFBIG, ENAMETOOLONG...) become
    InvalidLayer naming it; the environment's (ENOSPC, EIO...) stay OSErrors."""
    try:
        yield
    except OSError as e:
        if e.errno in _ENV_ERRORS:
            raise
        raise InvalidLayer(f"member {m.name!r}: {e.strerror or e}") from e
    except (ValueError, OverflowError) as e:
        if isinstance(e, InvalidLayer):
            raise
        raise InvalidLayer(f"member {m.name!r}: {e}") from e


@contextlib.contextmanager
def _parsing(where: str) -> Iterator[None]:
    """Turn tarfile's parse errors (TarError, and the ValueError, IndexError... its header
    parsers raise on hostile PAX or sparse records) into InvalidLayer. Errors of the
    stream itself (an OSError, a corrupt compressed stream's InvalidInput) pass as they are.
    """
    try:
        yield
    except (LayerfsError, OSError):
        raise
    except Exception as e:
        raise InvalidLayer(f"layer tar: unreadable header {where}: {e}") from None


class _Apply:
    """The state of one extraction: what exists, which dirs are opaque, dir metadata."""

    def __init__(self, tree: FdTree, fmt: WhiteoutFormat, policy: _meta.Policy) -> None:
        self.tree = tree
        self.fmt = fmt
        self.policy = policy
        self.count = 0
        self.last = ""  # name of the last member read, for messages
        self.whiteouts = 0
        self.kinds: dict[tuple[str, ...], str] = {}  # what this tar put at each path
        self.children: dict[tuple[str, ...], set[str]] = {}  # names recorded per dir
        self.opaque: set[tuple[str, ...]] = set()
        self.dirs: dict[tuple[str, ...], tarfile.TarInfo] = {}  # modes+times set last

    def member(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        self.count += 1
        self.last = m.name
        parts = split_name(m.name)
        if any(p.startswith(wh.OCI_PREFIX) for p in parts[:-1]):
            raise InvalidLayer(f"member {m.name!r}: a whiteout marker name used as a directory")
        with _member_errors(m):
            if not parts:
                self._root(m)
                return
            kind, target = wh.parse_oci_name(parts[-1])
            if kind == "opaque":
                self._opaque(m, parts[:-1])
            elif kind == "whiteout":
                self._whiteout(m, parts[:-1], target or "")
            else:
                self._entry(tf, m, parts)

    # ------------------------------------------------------------------ markers

    def _root(self, m: tarfile.TarInfo) -> None:
        if not m.isdir():
            raise InvalidLayer(f"member {m.name!r}: the layer root must be a directory")
        self.dirs[()] = m
        _meta.chown(m, self.policy, fd=self.tree.root_fd)
        _meta.set_xattrs(self.tree.root_fd, m, self.policy)

    def _opaque(self, m: tarfile.TarInfo, parent: tuple[str, ...]) -> None:
        fd = self.tree.open_dir(parent, create=True, what=f"member {m.name!r}")
        path = proc_path(fd)
        for name in wh.clear_whiteouts(path):
            self._forget((*parent, name), subtree=False)
        wh.make_opaque(path, self.fmt)
        self.opaque.add(parent)
        self.whiteouts += 1

    def _whiteout(self, m: tarfile.TarInfo, parent: tuple[str, ...], target: str) -> None:
        if not target or target in (".", "..") or target.startswith(wh.OCI_PREFIX):
            raise InvalidLayer(f"member {m.name!r}: whiteout of an invalid name {target!r}")
        fd = self.tree.open_dir(parent, create=True, what=f"member {m.name!r}")
        self._clear(fd, (*parent, target), target)
        self.whiteouts += 1
        if parent in self.opaque:
            return  # the opaque directory already hides every lower name
        wh.make_whiteout(proc_path(fd), target, self.fmt)
        self._record((*parent, target), "whiteout")

    def _clear(self, fd: int, parts: tuple[str, ...], name: str) -> None:
        """Remove whatever is at `name` in `fd` (a whole tree for a directory)."""
        st = self.tree.lstat(fd, name)
        if st is None:
            return
        self.tree.remove(fd, name, st)
        self._forget(parts, subtree=stat.S_ISDIR(st.st_mode))

    def _record(self, parts: tuple[str, ...], kind: str) -> None:
        self.kinds[parts] = kind
        self.children.setdefault(parts[:-1], set()).add(parts[-1])

    def _forget(self, parts: tuple[str, ...], *, subtree: bool) -> None:
        """Drop what was recorded at `parts` (and below it); cost: the subtree's size."""
        self.children.get(parts[:-1], set()).discard(parts[-1])
        stack = [parts]
        while stack:
            p = stack.pop()
            self.kinds.pop(p, None)
            self.dirs.pop(p, None)
            self.opaque.discard(p)
            if subtree:
                stack.extend((*p, n) for n in self.children.pop(p, ()))

    # ------------------------------------------------------------------ entries

    def _entry(self, tf: tarfile.TarFile, m: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
        what = f"member {m.name!r}"
        fd = self.tree.open_dir(parts[:-1], create=True, what=what)
        name = parts[-1]
        st = self.tree.lstat(fd, name)
        if m.isdir():
            if st is None or not stat.S_ISDIR(st.st_mode):
                if st is not None:
                    self._clear(fd, parts, name)
                os.mkdir(name, 0o700, dir_fd=fd)
            self._dir(fd, name, m, parts)
            return
        if st is not None:
            self._clear(fd, parts, name)
        if m.isreg():
            self._file(tf, fd, name, m)
            kind = "file"
        elif m.issym():
            if not m.linkname:
                raise InvalidLayer(f"{what}: symlink with an empty target")
            os.symlink(m.linkname, name, dir_fd=fd)
            _meta.finish_link(fd, name, m, self.policy)
            kind = "symlink"
        elif m.islnk():
            self._hardlink(fd, name, m, parts)
            kind = "file"
        else:
            kind = self._special(fd, name, m, parts)
        self._record(parts, kind)

    def _dir(self, parent_fd: int, name: str, m: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
        dfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                      dir_fd=parent_fd)
        try:
            _meta.chown(m, self.policy, fd=dfd)
            _meta.set_xattrs(dfd, m, self.policy)
        finally:
            os.close(dfd)
        self._record(parts, "dir")
        self.dirs[parts] = m

    def _file(self, tf: tarfile.TarFile, dir_fd: int, name: str, m: tarfile.TarInfo) -> None:
        fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=dir_fd)
        try:
            _copy_data(tf, m, fd)
            _meta.finish_fd(fd, m, self.policy, is_dir=False)
        finally:
            os.close(fd)

    def _hardlink(self, dir_fd: int, name: str, m: tarfile.TarInfo,
                  parts: tuple[str, ...]) -> None:
        what = f"member {m.name!r}"
        target = split_name(m.linkname, f"{what}: hard link target")
        if self.kinds.get(target) not in ("file", "symlink", "special") or target == parts:
            raise InvalidLayer(
                f"{what}: hard link to {m.linkname!r}, which is not an earlier member"
            )
        tfd = self.tree.open_dir(target[:-1], create=False, what=what)
        if tfd != self.tree.root_fd:
            tfd = os.dup(tfd)  # the cache may move on when dir_fd is reopened below
        try:
            dir_fd = self.tree.open_dir(parts[:-1], create=False, what=what)
            os.link(target[-1], name, src_dir_fd=tfd, dst_dir_fd=dir_fd, follow_symlinks=False)
        finally:
            if tfd != self.tree.root_fd:
                os.close(tfd)

    def _special(self, dir_fd: int, name: str, m: tarfile.TarInfo,
                 parts: tuple[str, ...]) -> str:
        if m.isfifo():
            os.mkfifo(name, 0o600, dir_fd=dir_fd)
        elif m.ischr() or m.isblk():
            if m.ischr() and m.devmajor == 0 and m.devminor == 0:
                # a 0/0 device already is the on-disk whiteout: convert it like `.wh.NAME`
                self.whiteouts += 1
                if parts[:-1] in self.opaque:
                    return "skipped"
                wh.make_whiteout(proc_path(dir_fd), name, self.fmt)
                return "whiteout"
            if not self.policy.privileged:
                self.policy.note(f"{m.name}: device node skipped (needs privilege)")
                return "skipped"
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            os.mknod(name, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=dir_fd)
        else:
            raise InvalidLayer(f"member {m.name!r}: unsupported tar member type {m.type!r}")
        _meta.finish_node(dir_fd, name, m, self.policy)
        return "special"

    # ------------------------------------------------------------------ the end

    def finish_dirs(self) -> None:
        """Set directory modes and times last, deepest first (children change mtimes)."""
        for parts in sorted(self.dirs, key=len, reverse=True):
            m = self.dirs[parts]
            what = f"member {m.name!r}"
            fd = self.tree.open_dir(parts[:-1], create=False, what=what) if parts else None
            dfd = self.tree.root_fd if fd is None else os.open(
                parts[-1], os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                dir_fd=fd)
            try:
                with _member_errors(m):
                    os.fchmod(dfd, _meta.file_mode(m, self.policy, is_dir=True))
                    mt = _meta.mtime_ns(m)
                    os.utime(dfd, ns=(mt, mt))
            finally:
                if dfd != self.tree.root_fd:
                    os.close(dfd)


def _copy_data(tf: tarfile.TarFile, m: tarfile.TarInfo, fd: int) -> None:
    """Write a regular member's data; sparse members keep their holes.

    Reads the raw data region straight from tarfile's stream (chunks are stored in map
    order), avoiding the per-member file object and the zero-filling of holes.
    """
    src = tf.fileobj
    assert src is not None
    src.seek(m.offset_data)
    chunks = m.sparse if m.sparse is not None else [(0, m.size)]
    for offset, length in chunks:
        if m.sparse is not None:
            os.lseek(fd, offset, os.SEEK_SET)
        left = length
        while left:
            data = src.read(min(_CHUNK, left))
            if not data:
                raise InvalidLayer(f"member {m.name!r}: truncated data ({left} bytes missing)")
            left -= len(data)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
    if m.sparse is not None:
        os.ftruncate(fd, m.size)


def _skip_rest(tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
    """Consume what is left of a member's data up to the next header, or fail.

    tarfile skips unread data by seeking its stream, which in stream mode loops once per
    buffer over the claimed size even past the end of input: a marker member claiming
    10**20 bytes would spin forever. Reading here stops at the real end of the stream.
    """
    src = tf.fileobj
    assert src is not None
    left = tf.offset - src.tell()
    while left > 0:
        data = src.read(min(_CHUNK, left))
        if not data:
            raise InvalidLayer(f"member {m.name!r}: truncated data ({left} bytes missing)")
        left -= len(data)
