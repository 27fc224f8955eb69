"""Handlers for names and metadata: LOOKUP, FORGET, GETATTR, SETATTR, READLINK, STATFS, xattrs.

Every handler is ``(fs, req, body) -> reply payload`` (None: no reply) and raises
`OSError` for errors; the session turns those into ``-errno`` replies.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time

from layerfs.errors import oserror
from layerfs.mounts.fuse import attrs, device
from layerfs.mounts.fuse import protocol as p
from layerfs.mounts.fuse.core import Filesystem, Request
from layerfs.mounts.fuse.inodes import Inode


def _name(body: memoryview) -> bytes:
    return p.split_names(body, 1)[0]


def lookup(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    """A name in a directory; a miss is answered from the directory's name index.

    The first miss in a directory lists it once (all layers); later misses cost a set
    lookup however many layers the directory is merged from. Every change of the
    directory's names goes through this server, which keeps the index exact.
    """
    raw = _name(body)
    with fs.lock:
        parent, name, path = fs.child_path(req.nodeid, raw)
        if parent.index is not None and name not in parent.index:
            return attrs.NEGATIVE_ENTRY
        try:
            return fs.entry(parent, name, path)
        except FileNotFoundError:
            if parent.index is None:
                parent.index = set(fs.view.listdir(fs.inodes.path(parent)))
            return attrs.NEGATIVE_ENTRY


def _forget(fs: Filesystem, nodeid: int, count: int) -> None:
    """Drop lookups; a node gone from the table gives its passthrough backing id back."""
    dropped = fs.inodes.forget(nodeid, count)
    if dropped is not None and dropped.backing is not None:
        with contextlib.suppress(OSError):
            device.backing_close(fs.dev_fd, dropped.backing[0])


def forget(fs: Filesystem, req: Request, body: memoryview) -> None:
    (count,) = p.FORGET_IN.unpack_from(body)
    with fs.lock:
        _forget(fs, req.nodeid, count)


def batch_forget(fs: Filesystem, req: Request, body: memoryview) -> None:
    count, _ = p.BATCH_FORGET_IN.unpack_from(body)
    with fs.lock:
        for i in range(count):
            nodeid, n = p.FORGET_ONE.unpack_from(body, p.BATCH_FORGET_IN.size + i * 16)
            _forget(fs, nodeid, n)


def getattr_(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    with fs.lock:
        node = fs.node(req.nodeid)
        st, nlink = fs.stat_node(node)
        return attrs.attr_out(attrs.pack_attr(st, node.ino, nlink))


def setattr_(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    """chmod, chown, truncate, utimens: each copies the object up first (in the view)."""
    f = p.SETATTR_IN.unpack_from(body)
    valid, fh, size, atime, mtime, atimens, mtimens, mode, uid, gid = (
        f[0], f[2], f[3], f[5], f[6], f[8], f[9], f[11], f[13], f[14],
    )
    with fs.lock:
        node = fs.node(req.nodeid)
        handle = fs.handles.file(fh) if valid & p.FATTR_FH else None
        if not node.names and node.nodeid != p.ROOT_ID:
            _setattr_detached(node, valid, size, mode, uid, gid, handle)
        else:
            path = fs.inodes.path(node)
            view = fs.view
            if valid & p.FATTR_MODE:
                view.chmod(path, mode & 0o7777)
            if valid & (p.FATTR_UID | p.FATTR_GID):
                view.chown(
                    path,
                    uid if valid & p.FATTR_UID else -1,
                    gid if valid & p.FATTR_GID else -1,
                )
            if valid & p.FATTR_SIZE:
                if handle is not None and handle.writable:
                    os.ftruncate(handle.fd, size)
                else:
                    view.truncate(path, size)
            if valid & (p.FATTR_ATIME | p.FATTR_MTIME):
                cur = view.lstat(path)
                view.utimens(
                    path,
                    ns=(
                        _time(valid, p.FATTR_ATIME, p.FATTR_ATIME_NOW, atime, atimens,
                              cur.st_atime_ns),
                        _time(valid, p.FATTR_MTIME, p.FATTR_MTIME_NOW, mtime, mtimens,
                              cur.st_mtime_ns),
                    ),
                )
            fs.parents_changed(node)
        st, nlink = fs.stat_node(node)
        return attrs.attr_out(attrs.pack_attr(st, node.ino, nlink))


def _time(valid: int, bit: int, now_bit: int, sec: int, nsec: int, current: int) -> int:
    if not valid & bit:
        return current
    if valid & now_bit:
        return time.time_ns()
    return sec * 1_000_000_000 + nsec


def _setattr_detached(
    node: Inode, valid: int, size: int, mode: int, uid: int, gid: int, handle: object
) -> None:
    # An unlinked but open file: only an upper object may still be changed, through its fd.
    if not node.upper or not node.open_fds:
        raise oserror(errno.ENOENT)
    fd = node.open_fds[0]
    if valid & p.FATTR_MODE:
        os.fchmod(fd, mode & 0o7777)
    if valid & (p.FATTR_UID | p.FATTR_GID):
        os.fchown(fd, uid if valid & p.FATTR_UID else -1, gid if valid & p.FATTR_GID else -1)
    if valid & p.FATTR_SIZE:
        os.truncate(f"/proc/self/fd/{fd}", size)


def readlink(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    with fs.lock:
        return os.fsencode(fs.view.readlink(fs.path(req.nodeid)))


def statfs(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    s = fs.view.statfs()
    return p.STATFS_OUT.pack(
        s.f_blocks, s.f_bfree, s.f_bavail, s.f_files, s.f_ffree, s.f_bsize,
        s.f_namemax, s.f_frsize, 0,
    )


def _sized(value: bytes, size: int) -> bytes:
    if size == 0:
        return p.GETXATTR_OUT.pack(len(value), 0)
    if len(value) > size:
        raise oserror(errno.ERANGE)
    return value


CAPS = "security.capability"


def getxattr(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    size, _ = p.GETXATTR_IN.unpack_from(body)
    name = os.fsdecode(_name(body[p.GETXATTR_IN.size :]))
    with fs.lock:
        node = fs.node(req.nodeid)
        if name == CAPS and node.nocaps:
            raise oserror(errno.ENODATA)
        try:
            value = fs.view.getxattr(fs.inodes.path(node), name)
        except OSError as e:
            if name == CAPS and e.errno == errno.ENODATA:
                node.nocaps = True
            raise
    return _sized(value, size)


def listxattr(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    size, _ = p.GETXATTR_IN.unpack_from(body)
    with fs.lock:
        names = fs.view.listxattr(fs.path(req.nodeid))
    return _sized(b"".join(os.fsencode(n) + b"\0" for n in names), size)


def setxattr(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    size, flags = p.SETXATTR_IN.unpack_from(body)
    rest = bytes(body[p.SETXATTR_IN.size :])
    raw, _, tail = rest.partition(b"\0")
    value = tail[:size]
    name = os.fsdecode(raw)
    with fs.lock:
        node = fs.node(req.nodeid)
        node.nocaps = False
        fs.view.setxattr(fs.inodes.path(node), name, value, flags)
        fs.parents_changed(node)
    return b""


def removexattr(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    name = os.fsdecode(_name(body))
    with fs.lock:
        node = fs.node(req.nodeid)
        node.nocaps = False
        fs.view.removexattr(fs.inodes.path(node), name)
        fs.parents_changed(node)
    return b""


HANDLERS = {
    p.Op.LOOKUP: lookup,
    p.Op.FORGET: forget,
    p.Op.BATCH_FORGET: batch_forget,
    p.Op.GETATTR: getattr_,
    p.Op.SETATTR: setattr_,
    p.Op.READLINK: readlink,
    p.Op.STATFS: statfs,
    p.Op.GETXATTR: getxattr,
    p.Op.LISTXATTR: listxattr,
    p.Op.SETXATTR: setxattr,
    p.Op.REMOVEXATTR: removexattr,
}
