"""Handlers for open files: OPEN, CREATE, READ, WRITE, RELEASE, FLUSH, FSYNC, FALLOCATE, LSEEK.

Opening for write copies the file up (in the view) before the fd is taken, so every fd a
handle holds for writing is on the upper file. As root the kernel's FUSE passthrough is
used: the OPEN reply names a backing id registered for the real file, and the kernel then
reads and writes that file itself (no READ/WRITE requests). One kernel inode can only
pass through to one backing file at a time, so a node keeps its backing id while any
open file uses it (and after, until the kernel forgets the node, so that opening it again
costs no registration); an open that would need a different backing file while one is
in use (the node was copied up meanwhile) falls back to direct I/O through the server.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

from layerfs.mounts.fuse import device, fastpath
from layerfs.mounts.fuse import protocol as p
from layerfs.mounts.fuse.core import Filesystem, Request
from layerfs.mounts.fuse.handles import FileHandle
from layerfs.mounts.fuse.inodes import Inode

# Flags of the caller's open that must not reach our own fd: the kernel computes append
# offsets itself (pwrite on an O_APPEND fd would ignore them), O_DIRECT needs alignment,
# O_NOATIME needs ownership.
_DROP = os.O_APPEND | os.O_DIRECT | os.O_NOATIME | os.O_NOCTTY | os.O_NONBLOCK
_WRITE_KILL_SUIDGID = 1 << 2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def _attach(fs: Filesystem, node: Inode, fd: int, writable: bool) -> bytes:
    """Register an fd just opened on `node`; returns the fuse_open_out reply."""
    node.open_fds.append(fd)
    st = os.fstat(fd)
    real = (st.st_dev, st.st_ino)
    flags, backing_id = p.FOPEN_KEEP_CACHE, 0
    if fs.passthrough:
        flags, backing_id = _passthrough(fs, node, fd, real)
    fh = fs.handles.add(FileHandle(fd, node, writable, backing_id > 0, real))
    # NOFLUSH: nothing is buffered here, so close(2) need not wait for a FLUSH round trip.
    return p.OPEN_OUT.pack(fh, flags | p.FOPEN_NOFLUSH, backing_id)


def _passthrough(fs: Filesystem, node: Inode, fd: int, real: tuple[int, int]) -> tuple[int, int]:
    if node.backing is None:
        try:
            bid = device.backing_open(fs.dev_fd, fd)
        except OSError as e:
            print(f"layerfs: no passthrough for node {node.nodeid}: {e}", file=sys.stderr)
            return p.FOPEN_KEEP_CACHE, 0
        node.backing = (bid, 1, real)
        return p.FOPEN_PASSTHROUGH, bid
    bid, refs, backing_real = node.backing
    if backing_real != real:
        if refs > 0:
            return p.FOPEN_DIRECT_IO, 0
        node.backing = None  # kept from files now closed, on the object before copy-up
        device.backing_close(fs.dev_fd, bid)
        return _passthrough(fs, node, fd, real)
    node.backing = (bid, refs + 1, real)
    return p.FOPEN_PASSTHROUGH, bid


def _oflags(flags: int) -> int:
    return (flags & ~_DROP) | os.O_CLOEXEC


def open_(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    flags, _ = p.OPEN_IN.unpack_from(body)
    writable = flags & os.O_ACCMODE != os.O_RDONLY
    with fs.lock:
        node = fs.node(req.nodeid)
        fd = fastpath.open_(node, _oflags(flags))
        if fd is None:
            fd = fs.view.open(fs.inodes.path(node), _oflags(flags))
        if writable or flags & os.O_TRUNC:
            was_upper = node.upper
            fs.parents_changed(node)
            if node.upper and not was_upper:
                fs.invalidate_attrs(node)
        return _attach(fs, node, fd, writable)


def create(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    flags, mode, _umask, _ = p.CREATE_IN.unpack_from(body)
    (raw,) = p.split_names(body[p.CREATE_IN.size :], 1)
    with fs.lock:
        parent, name, path = fs.child_path(req.nodeid, raw)
        fd = fastpath.create(parent, fs.upper_dir(parent), name, _oflags(flags), mode & 0o7777)
        if fd is None:
            fd = fs.view.open(path, _oflags(flags) | os.O_CREAT, mode & 0o7777)
        try:
            entry = fs.created(parent, name, path, req, fd)
        except BaseException:
            os.close(fd)
            raise
        node = fs.inodes.child(parent.nodeid, name)
        assert node is not None
        return entry + _attach(fs, node, fd, flags & os.O_ACCMODE != os.O_RDONLY)


def read(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    fh, offset, size, *_ = p.READ_IN.unpack_from(body)
    handle = fs.handles.file(fh)
    if handle.real != handle.node.real and not handle.writable:
        _follow_copy_up(fs, handle)
    return os.pread(handle.fd, size, offset)


def _follow_copy_up(fs: Filesystem, handle: FileHandle) -> None:
    """A read-only fd opened before its file was copied up reads the new copy from now on
    (as on the kernel overlay); an unlinked file keeps what it had."""
    with fs.lock:
        node = handle.node
        if not node.names or handle.real == node.real:
            return
        fd = fs.view.open(fs.inodes.path(node), os.O_RDONLY | os.O_CLOEXEC)
        old = handle.fd
        node.open_fds[node.open_fds.index(old)] = fd
        st = os.fstat(fd)
        handle.fd, handle.real = fd, (st.st_dev, st.st_ino)
        handle.retired.append(old)


def write(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    fh, offset, size, write_flags, *_ = p.WRITE_IN.unpack_from(body)
    fd = fs.handles.file(fh).fd
    data = body[p.WRITE_IN.size : p.WRITE_IN.size + size]
    n = os.pwrite(fd, data, offset)
    if write_flags & _WRITE_KILL_SUIDGID:
        kill_suidgid(fd)
    return p.WRITE_OUT.pack(n, 0)


def kill_suidgid(fd: int) -> None:
    """Drop setuid (and group-executable setgid) bits as a write by the owner would."""
    mode = os.fstat(fd).st_mode
    drop = 0o4000 | (0o2000 if mode & 0o010 else 0)
    if mode & drop:
        os.fchmod(fd, mode & 0o7777 & ~drop)


def release(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    fh, *_ = p.RELEASE_IN.unpack_from(body)
    handle = fs.handles.pop(fh)
    if not isinstance(handle, FileHandle):
        return b""
    with fs.lock:
        node = handle.node
        if handle.fd in node.open_fds:
            node.open_fds.remove(handle.fd)
        if handle.backing and node.backing is not None:
            # The backing id outlives its last file (until FORGET): opening the file
            # again needs no new registration.
            bid, refs, real = node.backing
            node.backing = (bid, max(refs - 1, 0), real)
    for fd in (handle.fd, *handle.retired):
        os.close(fd)
    return b""


def flush(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    # Nothing is buffered in the server: every WRITE reached the real file already.
    return b""


def fsync(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    fh, fsync_flags, _ = p.FSYNC_IN.unpack_from(body)
    fd = fs.handles.file(fh).fd
    if fsync_flags & 1:
        os.fdatasync(fd)
    else:
        os.fsync(fd)
    return b""


def fallocate(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    fh, offset, length, mode, _ = p.FALLOCATE_IN.unpack_from(body)
    fd = fs.handles.file(fh).fd
    if _libc.fallocate(fd, mode, offset, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return b""


def lseek(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    fh, offset, whence, _ = p.LSEEK_IN.unpack_from(body)
    return p.LSEEK_OUT.pack(os.lseek(fs.handles.file(fh).fd, offset, whence))


HANDLERS = {
    p.Op.OPEN: open_,
    p.Op.CREATE: create,
    p.Op.READ: read,
    p.Op.WRITE: write,
    p.Op.RELEASE: release,
    p.Op.FLUSH: flush,
    p.Op.FSYNC: fsync,
    p.Op.FALLOCATE: fallocate,
    p.Op.LSEEK: lseek,
}
