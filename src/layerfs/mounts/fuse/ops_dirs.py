"""Handlers for open directories: OPENDIR, READDIR, RELEASEDIR, FSYNCDIR.

The first READDIR of an open directory (and every rewind to offset 0) takes one snapshot
of the merged listing (the union's readdir: upper first, then lowers, whiteouts and
duplicates removed) and, as a by-product, the directory's name index (see
`ops_meta.lookup`). Plain READDIR only: READDIRPLUS would make the kernel ask for
attributes of every entry, which costs far more than it saves for large directories.
The kernel may keep the listing in its page cache (FOPEN_CACHE_DIR): every change of a
directory goes through the kernel, which drops that cache itself.
"""

from __future__ import annotations

import os

from layerfs.mounts.fuse import protocol as p
from layerfs.mounts.fuse.core import Filesystem, Request
from layerfs.mounts.fuse.handles import DirHandle
from layerfs.mounts.fuse.inodes import Inode
from layerfs.union import EntryKind

_DTYPE = {
    EntryKind.DIR: 4,
    EntryKind.FILE: 8,
    EntryKind.SYMLINK: 10,
}


def _real_inodes(sources: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """(st_dev, d_ino) of each name in the topmost real directory that holds it."""
    inodes: dict[str, tuple[int, int]] = {}
    for src in sources:
        try:
            dev = os.stat(src).st_dev
            with os.scandir(src) as it:
                for de in it:
                    inodes.setdefault(de.name, (dev, de.inode()))
        except OSError:
            continue
    return inodes


def opendir(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    with fs.lock:
        node = fs.node(req.nodeid)
        fs.inodes.path(node)  # ENOENT for a removed directory
    fh = fs.handles.add(DirHandle(node))
    return p.OPEN_OUT.pack(fh, p.FOPEN_KEEP_CACHE | p.FOPEN_CACHE_DIR, 0)


def _listing(fs: Filesystem, node: Inode) -> list[bytes]:
    """The packed dirents of a directory node; refreshes its name index on the way."""
    path = fs.inodes.path(node)
    found = fs.view.lookup(path)
    entries = fs.view.readdir(path)
    node.index = {e.name for e in entries}
    real = _real_inodes(found.sources)
    parent = fs.node(node.names[0][0]) if node.names else node
    out = [p.dirent(node.ino, 1, b".", 4), p.dirent(parent.ino, 2, b"..", 4)]
    child, reported, dtypes, fsencode = fs.inodes.child, fs.inodes.reported_ino, _DTYPE, os.fsencode
    for off, e in enumerate(entries, 3):
        known = child(node.nodeid, e.name)
        ino = known.ino if known is not None else reported(real.get(e.name, (0, 1)))
        out.append(p.dirent(ino or 1, off, fsencode(e.name), dtypes.get(e.kind, 0)))
    return out


def readdir(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    fh, offset, size, *_ = p.READ_IN.unpack_from(body)
    handle = fs.handles.dir(fh)
    if handle.dirents is None or offset == 0:
        with fs.lock:
            handle.dirents = _listing(fs, handle.node)
    dirents = handle.dirents
    out: list[bytes] = []
    used = 0
    for i in range(offset, len(dirents)):
        used += len(dirents[i])
        if used > size:
            break
        out.append(dirents[i])
    return b"".join(out)


def releasedir(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    fh, *_ = p.RELEASE_IN.unpack_from(body)
    fs.handles.pop(fh)
    return b""


def fsyncdir(fs: Filesystem, req: Request, body: memoryview) -> bytes:
    with fs.lock:
        path = fs.path(req.nodeid)
        found = fs.view.lookup(path)
    if found.layer == 0:
        fd = os.open(found.realpath, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return b""


HANDLERS = {
    p.Op.OPENDIR: opendir,
    p.Op.READDIR: readdir,
    p.Op.RELEASEDIR: releasedir,
    p.Op.FSYNCDIR: fsyncdir,
}
