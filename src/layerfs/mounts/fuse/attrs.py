"""Packing attributes and entries for replies, and the cache lifetimes the kernel gets.

The layers below a mount are immutable and every change to the upper dir goes through the
server, so the kernel may cache names, negative lookups and attributes for a long time
(`TIMEOUT`); the server only has to answer what the kernel cannot know.
"""

from __future__ import annotations

import os
import stat

from layerfs.mounts.fuse import protocol as p

#: Seconds the kernel may cache names, negative lookups and attributes.
TIMEOUT = 86400

_DT = {
    stat.S_IFDIR: 4,
    stat.S_IFREG: 8,
    stat.S_IFLNK: 10,
    stat.S_IFCHR: 2,
    stat.S_IFBLK: 6,
    stat.S_IFIFO: 1,
    stat.S_IFSOCK: 12,
}


def dtype(mode: int) -> int:
    """The d_type (DT_*) of an st_mode; DT_UNKNOWN (0) for anything else."""
    return _DT.get(stat.S_IFMT(mode), 0)


def pack_attr(st: os.stat_result, ino: int, nlink: int | None = None) -> bytes:
    """`struct fuse_attr` for `st`, reporting inode number `ino` (and `nlink` if given)."""
    return p.ATTR.pack(
        ino,
        st.st_size,
        st.st_blocks,
        int(st.st_atime),
        int(st.st_mtime),
        int(st.st_ctime),
        st.st_atime_ns % 1_000_000_000,
        st.st_mtime_ns % 1_000_000_000,
        st.st_ctime_ns % 1_000_000_000,
        st.st_mode,
        st.st_nlink if nlink is None else nlink,
        st.st_uid,
        st.st_gid,
        _encode_dev(st.st_rdev),
        st.st_blksize,
        0,
    )


def _encode_dev(rdev: int) -> int:
    # The kernel decodes fuse_attr.rdev with new_decode_dev (the 32-bit encoding).
    major, minor = os.major(rdev), os.minor(rdev)
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)


def decode_dev(rdev: int) -> int:
    """The dev_t of an MKNOD request's 32-bit `rdev` (new_encode_dev form)."""
    major = (rdev & 0xFFF00) >> 8
    minor = (rdev & 0xFF) | ((rdev >> 12) & 0xFFF00)
    return os.makedev(major, minor)


def entry_out(nodeid: int, attr: bytes) -> bytes:
    """`struct fuse_entry_out` for a found (or created) name."""
    return p.ENTRY_OUT.pack(nodeid, 0, TIMEOUT, TIMEOUT, 0, 0) + attr


#: The entry reply for a missing name that the kernel may cache (nodeid 0).
NEGATIVE_ENTRY = p.ENTRY_OUT.pack(0, 0, TIMEOUT, 0, 0, 0) + b"\0" * p.ATTR.size


def attr_out(attr: bytes) -> bytes:
    """`struct fuse_attr_out` for GETATTR/SETATTR replies."""
    return p.ATTR_OUT.pack(TIMEOUT, 0, 0) + attr
