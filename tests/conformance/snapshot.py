"""Snapshots of a merged tree (through a `FrontEnd`) and of an upper dir (on disk), and
their comparison, first difference first.

What is compared, and what is left out on purpose:

- merged tree: every name with its type, readdir d_type, permission bits (incl. setuid),
  uid/gid, visible xattrs and their values; for non-directories also size, nlink, the
  sha256 of a file's content, a symlink's target and the mtime class (below).
- upper dir: every name with its type (a whiteout is a 0/0 character device), permission
  bits, uid/gid, xattrs (overlay markers included: opaque, redirect, impure...; origin as
  the lower layer path its file handle names); for non-directories also size, nlink,
  content hash, symlink target and mtime class; for files whether they are sparse (fewer
  bytes allocated than their size: copy-up keeps holes; where they are is not compared,
  the kernel copies in 1 MiB chunks and allocates a chunk that holds any data).
- never compared: inode numbers and st_dev, ctimes, atimes, directory sizes and times
  (they depend on the history of each real directory, not on the union's semantics),
  readdir order (the order of the real directories below), nlink of directories, and
  nlink of whiteouts in the upper dir (the kernel hard-links all its whiteouts to one
  ``work/#N`` object; a one-per-name whiteout is equally valid).
- mtime class: a layer fixture pins every time to `FIXED_TIME_NS` or below and `utime`
  operations only set times below it, so an mtime at or below it must match to the
  nanosecond (copy-up preserves it) while a newer one only says "written during the test".
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, fields

from layerfs.union import whiteouts

from .fsutil import magic, read_all, short_path, walk
from .layers import FIXED_TIME_NS
from .protocol import FrontEnd

# Upper-dir xattrs left out entirely: trusted.overlay.uuid is random per mount, written by
# the kernel on the upper root at mount time (uuid=on); UnionView's constructor writes
# nothing but workdir/work (docs/UNION-API.md), so it has none.
IGNORED_XATTRS = frozenset(prefix + whiteouts.UUID for prefix in whiteouts.PREFIXES)
# overlay.origin is a file handle of the lower object in that front end's own copy of the
# layers, so raw values never agree: they are compared as the layer path they point to.
ORIGIN_XATTRS = frozenset(prefix + whiteouts.ORIGIN for prefix in whiteouts.PREFIXES)


@dataclass(frozen=True)
class Node:
    """What one name is, as far as the comparison goes (None: not applicable)."""

    kind: str
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: int | None = None
    nlink: int | None = None
    sha256: str | None = None
    target: str | None = None
    mtime: int | str | None = None
    xattrs: tuple[tuple[str, str], ...] = ()
    sparse: bool | None = None
    dtype: str | None = None
    error: str | None = None

    def describe(self) -> str:
        """Only the fields that apply, e.g. ``file mode=0o644 size=3``."""
        parts = [self.kind]
        for f in fields(self)[1:]:
            v = getattr(self, f.name)
            if v is None or v == ():
                continue
            parts.append(f"{f.name}={oct(v) if f.name == 'mode' else v}")
        return " ".join(parts)


Tree = dict[str, Node]


def errname(code: int | None) -> str:
    """"ENOENT" for 2; the number when errno has no name for it."""
    import errno as errno_mod

    return errno_mod.errorcode.get(code or 0, str(code))


def _kind(st: os.stat_result) -> str:
    m = st.st_mode
    if stat.S_ISDIR(m):
        return "dir"
    if stat.S_ISREG(m):
        return "file"
    if stat.S_ISLNK(m):
        return "symlink"
    if stat.S_ISFIFO(m):
        return "fifo"
    if stat.S_ISCHR(m):
        return "whiteout" if st.st_rdev == 0 else "chr"
    return "other"


def _mtime(st: os.stat_result) -> int | str:
    return st.st_mtime_ns if st.st_mtime_ns <= FIXED_TIME_NS else "new"


def content_digest(data: bytes) -> str:
    return f"{len(data)}:{hashlib.sha256(data).hexdigest()[:16]}"


def _shown(value: bytes) -> str:
    return repr(value) if len(value) <= 40 else content_digest(value)


def _err(what: str, e: OSError) -> str:
    return f"{what}: {errname(e.errno)}"


# --------------------------------------------------------------------------- merged


def merged_tree(fe: FrontEnd) -> Tree:
    """Walk the union from "/" through the front end's own calls."""
    tree: Tree = {}
    _merged_node(fe, "/", None, tree)
    return tree


def _merged_node(fe: FrontEnd, path: str, dtype: str | None, tree: Tree) -> None:
    try:
        st = fe.lstat(path)
    except OSError as e:
        tree[path] = Node("?", dtype=dtype, error=_err("lstat", e))
        return
    kind = _kind(st)
    node = _common(st, kind, dtype, include_nlink=True)
    errors = []
    try:
        names = sorted(fe.listxattr(path))
        node = _with(node, xattrs=tuple((n, _shown(fe.getxattr(path, n))) for n in names))
    except OSError as e:
        errors.append(_err("xattrs", e))
    try:
        if kind == "file":
            node = _with(node, sha256=content_digest(fe.read(path)))
        elif kind == "symlink":
            node = _with(node, target=fe.readlink(path))
    except OSError as e:
        errors.append(_err("content", e))
    children: list[tuple[str, str]] = []
    if kind == "dir":
        try:
            children = sorted(fe.listdir(path))
        except OSError as e:
            errors.append(_err("listdir", e))
    if errors:
        node = _with(node, error=", ".join(errors))
    tree[path] = node
    for name, child_dtype in children:
        _merged_node(fe, path.rstrip("/") + "/" + name, child_dtype, tree)


def _common(st: os.stat_result, kind: str, dtype: str | None, include_nlink: bool) -> Node:
    is_dir = kind == "dir"
    return Node(
        kind=kind,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        size=None if is_dir else st.st_size,
        nlink=None if is_dir or not include_nlink else st.st_nlink,
        mtime=None if is_dir else _mtime(st),
        dtype=dtype,
    )


def _with(node: Node, **changes: object) -> Node:
    from dataclasses import replace

    return replace(node, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- upper


def upper_tree(upperdir: str, origin: Callable[[bytes], str] | None = None) -> Tree:
    """Walk a real upper dir fd-relative (it may be deeper than PATH_MAX).

    `origin` turns an ``overlay.origin`` value into something comparable between two
    copies of the layers (see origins.py); without it only its presence is compared.
    """
    tree: Tree = {}
    fd = os.open(upperdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        tree["/"] = _upper_node(fd, os.fstat(fd), origin)
        for path, dirfd, name, st in walk(fd):
            flags = os.O_RDONLY if stat.S_ISREG(st.st_mode) else os.O_PATH
            ofd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                          dir_fd=dirfd)
            try:
                node = _upper_node(ofd, st, origin)
                if stat.S_ISREG(st.st_mode):
                    node = _with(node, sha256=content_digest(read_all(ofd)),
                                 sparse=st.st_blocks * 512 < st.st_size)
                elif stat.S_ISLNK(st.st_mode):
                    node = _with(node, target=os.readlink(name, dir_fd=dirfd))
            finally:
                os.close(ofd)
            tree[path] = node
    finally:
        os.close(fd)
    return tree


def _upper_node(fd: int, st: os.stat_result, origin: Callable[[bytes], str] | None) -> Node:
    kind = _kind(st)
    # whiteouts: the kernel shares one inode between all of them (see module docstring)
    node = _common(st, kind, None, include_nlink=kind != "whiteout")
    target = magic(fd)
    items = []
    for name in sorted(set(os.listxattr(target)) - IGNORED_XATTRS):
        value = os.getxattr(target, name)
        if name in ORIGIN_XATTRS:
            shown = origin(value) if origin is not None else "<present>"
        else:
            shown = _shown(value)
        items.append((name, shown))
    return _with(node, xattrs=tuple(items))


# --------------------------------------------------------------------------- compare


def diff(where: str, ref_name: str, ref: Tree, other_name: str, other: Tree) -> list[str]:
    """Human-readable differences, in path order (the first one first); [] when equal."""
    out = []
    for full in sorted(ref.keys() | other.keys()):
        a, b = ref.get(full), other.get(full)
        path = short_path(full)
        if a == b:
            continue
        if a is None or b is None:
            present, node = (ref_name, a) if b is None else (other_name, b)
            out.append(f"{where} {path}: only in {present}: {node.describe()}")  # type: ignore[union-attr]
            continue
        for f in fields(Node):
            va, vb = getattr(a, f.name), getattr(b, f.name)
            if va != vb:
                if f.name == "mode":
                    va, vb = oct(va) if va is not None else va, oct(vb) if vb is not None else vb
                out.append(f"{where} {path}: {f.name}: {ref_name} {va} != {other_name} {vb}")
    return out
