"""Handlers that change names: MKDIR, MKNOD, SYMLINK, UNLINK, RMDIR, RENAME(2), LINK.

The union does the work (copy-up, whiteouts, opaque dirs, redirects); these handlers keep
the inode table and the directory name indexes in step with it.
"""

from __future__ import annotations

import errno
import os
import stat

from layerfs.errors import oserror
from layerfs.mounts.fuse import attrs, fastpath
from layerfs.mounts.fuse import protocol as p
from layerfs.mounts.fuse.core import Filesystem, Request


def mkdir(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    mode, _umask = p.MKDIR_IN.unpack_from(body)
    (raw,) = p.split_names(body[p.MKDIR_IN.size :], 1)
    with fs.lock:
        parent, name, path = fs.child_path(req.nodeid, raw)
        fs.view.mkdir(path, mode & 0o7777)
        return fs.created(parent, name, path, req)


def mknod(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    mode, rdev, _umask, _ = p.MKNOD_IN.unpack_from(body)
    (raw,) = p.split_names(body[p.MKNOD_IN.size :], 1)
    with fs.lock:
        parent, name, path = fs.child_path(req.nodeid, raw)
        if stat.S_ISREG(mode):
            os.close(fs.view.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & 0o7777))
        else:
            fs.view.mknod(path, mode, attrs.decode_dev(rdev))
        return fs.created(parent, name, path, req)


def symlink(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    raw, target = p.split_names(body, 2)
    with fs.lock:
        parent, name, path = fs.child_path(req.nodeid, raw)
        fs.view.symlink(os.fsdecode(target), path)
        return fs.created(parent, name, path, req)


def unlink(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    (raw,) = p.split_names(body, 1)
    with fs.lock:
        parent, name, path = fs.child_path(req.nodeid, raw)
        node = fs.inodes.child(parent.nodeid, name)
        if not fastpath.unlink_lower(node, fs.upper_dir(parent), name, fs.whiteouts):
            fs.view.unlink(path)
        fs.removed(parent, name)
    return b""


def rmdir(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    (raw,) = p.split_names(body, 1)
    with fs.lock:
        parent, name, path = fs.child_path(req.nodeid, raw)
        fs.view.rmdir(path)
        fs.removed(parent, name)
    return b""


def rename(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    (newdir,) = p.RENAME_IN.unpack_from(body)
    return _rename(fs, req, newdir, 0, body[p.RENAME_IN.size :])


def rename2(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    newdir, flags, _ = p.RENAME2_IN.unpack_from(body)
    return _rename(fs, req, newdir, flags, body[p.RENAME2_IN.size :])


def _rename(fs: Filesystem, req: Request, newdir: int, flags: int, names: memoryview) -> bytes:
    if flags & ~p.RENAME_NOREPLACE:
        raise oserror(errno.EINVAL)
    raw_old, raw_new = p.split_names(names, 2)
    with fs.lock:
        old_parent, old_name, old = fs.child_path(req.nodeid, raw_old)
        new_parent, new_name, new = fs.child_path(newdir, raw_new)
        if flags & p.RENAME_NOREPLACE and fs.view.exists(new):
            raise oserror(errno.EEXIST)
        fs.view.rename(old, new)
        fs.inodes.move((old_parent.nodeid, old_name), (new_parent.nodeid, new_name))
        if old_parent.index is not None:
            old_parent.index.discard(old_name)
        if new_parent.index is not None:
            new_parent.index.add(new_name)
        fs.parents_changed(old_parent)
        fs.parents_changed(new_parent)
        moved = fs.inodes.child(new_parent.nodeid, new_name)
        if moved is not None:
            fs.parents_changed(moved)
    return b""


def link(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    """A hard link: the new name shares the node of the old one (one inode, as the kernel)."""
    (old_id,) = p.LINK_IN.unpack_from(body)
    (raw,) = p.split_names(body[p.LINK_IN.size :], 1)
    with fs.lock:
        node = fs.node(old_id)
        if node.is_dir:
            raise oserror(errno.EPERM)
        parent, name, path = fs.child_path(req.nodeid, raw)
        fs.view.link(fs.inodes.path(node), path)
        found = fs.view.lookup(path)
        fs.inodes.observe(node, found.st, found.layer == 0)
        fs.inodes.add_name(node, (parent.nodeid, name))
        node.nlookup += 1
        if parent.index is not None:
            parent.index.add(name)
        fs.parents_changed(parent)
        old_parent = node.names[0][0]
        fs.parents_changed(fs.node(old_parent))
        return attrs.entry_out(node.nodeid, attrs.pack_attr(found.st, node.ino))


HANDLERS = {
    p.Op.MKDIR: mkdir,
    p.Op.MKNOD: mknod,
    p.Op.SYMLINK: symlink,
    p.Op.UNLINK: unlink,
    p.Op.RMDIR: rmdir,
    p.Op.RENAME: rename,
    p.Op.RENAME2: rename2,
    p.Op.LINK: link,
}
