"""The /dev/fuse wire protocol: opcodes, flags and struct layouts (linux/fuse.h, 7.45).

Only what the server uses is defined. Every struct is a little-endian `struct.Struct`
whose field order and padding follow the kernel header exactly; the tests check the sizes
against the header's documented sizes. Nothing here does I/O.
"""

from __future__ import annotations

import enum
import struct

KERNEL_MAJOR = 7
#: The newest minor this server knows; the session speaks min(kernel's, this).
KERNEL_MINOR = 45
ROOT_ID = 1


class Op(enum.IntEnum):
    """Request opcodes (enum fuse_opcode)."""

    LOOKUP = 1
    FORGET = 2
    GETATTR = 3
    SETATTR = 4
    READLINK = 5
    SYMLINK = 6
    MKNOD = 8
    MKDIR = 9
    UNLINK = 10
    RMDIR = 11
    RENAME = 12
    LINK = 13
    OPEN = 14
    READ = 15
    WRITE = 16
    STATFS = 17
    RELEASE = 18
    FSYNC = 20
    SETXATTR = 21
    GETXATTR = 22
    LISTXATTR = 23
    REMOVEXATTR = 24
    FLUSH = 25
    INIT = 26
    OPENDIR = 27
    READDIR = 28
    RELEASEDIR = 29
    FSYNCDIR = 30
    GETLK = 31
    SETLK = 32
    SETLKW = 33
    ACCESS = 34
    CREATE = 35
    INTERRUPT = 36
    BMAP = 37
    DESTROY = 38
    IOCTL = 39
    POLL = 40
    NOTIFY_REPLY = 41
    BATCH_FORGET = 42
    FALLOCATE = 43
    READDIRPLUS = 44
    RENAME2 = 45
    LSEEK = 46
    COPY_FILE_RANGE = 47


class Notify(enum.IntEnum):
    """Unsolicited notification codes (sent with unique 0, code in the error field)."""

    INVAL_INODE = 2
    INVAL_ENTRY = 3
    DELETE = 6


# INIT flags (flags | flags2 << 32)
ASYNC_READ = 1 << 0
ATOMIC_O_TRUNC = 1 << 3
BIG_WRITES = 1 << 5
DO_READDIRPLUS = 1 << 13
READDIRPLUS_AUTO = 1 << 14
ASYNC_DIO = 1 << 15
WRITEBACK_CACHE = 1 << 16
PARALLEL_DIROPS = 1 << 18
MAX_PAGES = 1 << 22
CACHE_SYMLINKS = 1 << 23
INIT_EXT = 1 << 30
DIRECT_IO_ALLOW_MMAP = 1 << 36
PASSTHROUGH = 1 << 37

# OPEN reply flags
FOPEN_DIRECT_IO = 1 << 0
FOPEN_KEEP_CACHE = 1 << 1
FOPEN_CACHE_DIR = 1 << 3
FOPEN_NOFLUSH = 1 << 5
FOPEN_PASSTHROUGH = 1 << 7

# SETATTR valid bits
FATTR_MODE = 1 << 0
FATTR_UID = 1 << 1
FATTR_GID = 1 << 2
FATTR_SIZE = 1 << 3
FATTR_ATIME = 1 << 4
FATTR_MTIME = 1 << 5
FATTR_FH = 1 << 6
FATTR_ATIME_NOW = 1 << 7
FATTR_MTIME_NOW = 1 << 8

GETATTR_FH = 1 << 0

# RENAME2 flags (linux/fs.h)
RENAME_NOREPLACE = 1 << 0
RENAME_EXCHANGE = 1 << 1
RENAME_WHITEOUT = 1 << 2

# Device ioctls: _IOR(229, 0, u32), _IOW(229, 1, struct fuse_backing_map), _IOW(229, 2, u32)
DEV_IOC_CLONE = 0x8004E500
DEV_IOC_BACKING_OPEN = 0x4010E501
DEV_IOC_BACKING_CLOSE = 0x4004E502

# ----------------------------------------------------------------------------- structs

IN_HEADER = struct.Struct("<IIQQIIII")  # len opcode unique nodeid uid gid pid total_extlen
OUT_HEADER = struct.Struct("<IiQ")  # len error unique

# fuse_attr: ino size blocks atime mtime ctime, atimensec mtimensec ctimensec mode nlink
# uid gid rdev blksize flags
ATTR = struct.Struct("<QQQQQQIIIIIIIIII")
ENTRY_OUT = struct.Struct("<QQQQII")  # nodeid generation entry_valid attr_valid nsecs
ATTR_OUT = struct.Struct("<QII")  # attr_valid attr_valid_nsec dummy

INIT_IN = struct.Struct("<IIIII")  # major minor max_readahead flags flags2 (+unused)
# major minor max_readahead flags max_background congestion_threshold max_write time_gran
# max_pages map_alignment flags2 max_stack_depth request_timeout unused[11]
INIT_OUT = struct.Struct("<IIIIHHIIHHIIH22x")

FORGET_IN = struct.Struct("<Q")
BATCH_FORGET_IN = struct.Struct("<II")
FORGET_ONE = struct.Struct("<QQ")
GETATTR_IN = struct.Struct("<IIQ")  # getattr_flags dummy fh
# valid padding fh size lock_owner atime mtime ctime atimensec mtimensec ctimensec mode
# unused4 uid gid unused5
SETATTR_IN = struct.Struct("<IIQQQQQQIIIIIIII")
MKNOD_IN = struct.Struct("<IIII")  # mode rdev umask padding
MKDIR_IN = struct.Struct("<II")  # mode umask
RENAME_IN = struct.Struct("<Q")  # newdir
RENAME2_IN = struct.Struct("<QII")  # newdir flags padding
LINK_IN = struct.Struct("<Q")  # oldnodeid
OPEN_IN = struct.Struct("<II")  # flags open_flags
CREATE_IN = struct.Struct("<IIII")  # flags mode umask open_flags
OPEN_OUT = struct.Struct("<QIi")  # fh open_flags backing_id
RELEASE_IN = struct.Struct("<QIIQ")  # fh flags release_flags lock_owner
FLUSH_IN = struct.Struct("<QIIQ")  # fh unused padding lock_owner
READ_IN = struct.Struct("<QQIIQII")  # fh offset size read_flags lock_owner flags padding
WRITE_IN = struct.Struct("<QQIIQII")  # fh offset size write_flags lock_owner flags padding
WRITE_OUT = struct.Struct("<II")  # size padding
# blocks bfree bavail files ffree bsize namelen frsize padding spare[6]
STATFS_OUT = struct.Struct("<QQQQQIIII24x")
FSYNC_IN = struct.Struct("<QII")  # fh fsync_flags padding
SETXATTR_IN = struct.Struct("<II")  # size flags (no FUSE_SETXATTR_EXT)
GETXATTR_IN = struct.Struct("<II")  # size padding
GETXATTR_OUT = struct.Struct("<II")  # size padding
INTERRUPT_IN = struct.Struct("<Q")
FALLOCATE_IN = struct.Struct("<QQQII")  # fh offset length mode padding
LSEEK_IN = struct.Struct("<QQII")  # fh offset whence padding
LSEEK_OUT = struct.Struct("<Q")
# fh_in off_in nodeid_out fh_out off_out len flags
COPY_FILE_RANGE_IN = struct.Struct("<QQQQQQQ")
DIRENT = struct.Struct("<QQII")  # ino off namelen type
NOTIFY_INVAL_ENTRY = struct.Struct("<QII")  # parent namelen flags
NOTIFY_INVAL_INODE = struct.Struct("<Qqq")  # ino off len
#: fuse_notify_code values: sent in the error field of an unsolicited message (unique 0).
NOTIFY_CODE_INVAL_INODE = 2
BACKING_MAP = struct.Struct("<iIQ")  # fd flags padding


_PAD = tuple(b"\0" * n for n in range(8))


def dirent(ino: int, off: int, name: bytes, dtype: int) -> bytes:
    """One `struct fuse_dirent` with its name, padded to 8 bytes."""
    return b"".join((DIRENT.pack(ino, off, len(name), dtype), name, _PAD[-len(name) % 8]))


def dirent_size(name_len: int) -> int:
    """The padded size `dirent` produces for a name of `name_len` bytes."""
    return (DIRENT.size + name_len + 7) & ~7


def split_names(payload: bytes | memoryview, count: int) -> list[bytes]:
    """The first `count` NUL-terminated names of a request payload (LOOKUP, RENAME...)."""
    raw = bytes(payload)
    parts = raw.split(b"\0", count)
    if len(parts) <= count - 1:
        raise ValueError("truncated name in request")
    return parts[:count]
