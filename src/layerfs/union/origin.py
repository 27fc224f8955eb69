"""The kernel's ``overlay.origin`` value: a file handle of the lower object a copy-up came from.

The kernel (fs/overlayfs/copy_up.c, ``ovl_encode_real_fh``) stores ``struct ovl_fb``:

    u8 version (0) | u8 magic (0xfb) | u8 len | u8 flags | u8 type | uuid[16] | fid[]

where ``type``/``fid`` are the lower file system's export handle (what
``name_to_handle_at(2)`` returns, non-connectable), ``flags`` is 0 on little-endian CPUs
(1 on big-endian), and ``uuid`` is the lower file system's ``s_uuid`` (all zeros on file
systems that have none, e.g. ext4 created without one). When the lower file system cannot
encode handles the kernel stores an empty value ("null origin"), which is what
`encode_origin` returns then.

Values depend only on the lower object, so they are recomputed per call; the file system
uuid is cached per ``st_dev`` (it cannot change while mounted).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import stat
import struct
import sys

_MAX_HANDLE_SZ = 128
_OVL_FH_VERSION = 0
_OVL_FH_MAGIC = 0xFB
_FLAG_CPU_ENDIAN = 0 if sys.byteorder == "little" else 1
# FS_IOC_GETFSUUID = _IOR(0x15, 0, struct fsuuid2 { u8 len; u8 uuid[16]; })
_FS_IOC_GETFSUUID = (2 << 30) | (17 << 16) | (0x15 << 8) | 0
_AT_FDCWD = -100

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_name_to_handle_at = _libc.name_to_handle_at
_name_to_handle_at.argtypes = [
    ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int,
]
_name_to_handle_at.restype = ctypes.c_int

_uuid_cache: dict[int, bytes] = {}


def file_handle(path: str) -> tuple[int, bytes] | None:
    """``(handle_type, handle_bytes)`` of `path` (never following a final symlink).

    None when the file system does not export handles (EOPNOTSUPP and the like).
    """
    buf = ctypes.create_string_buffer(8 + _MAX_HANDLE_SZ)
    struct.pack_into("=Ii", buf, 0, _MAX_HANDLE_SZ, 0)
    mount_id = ctypes.c_int(0)
    rc = _name_to_handle_at(_AT_FDCWD, os.fsencode(path), buf, ctypes.byref(mount_id), 0)
    if rc != 0:
        err = ctypes.get_errno()
        if err in (errno.EOPNOTSUPP, errno.ENOTSUP, errno.EOVERFLOW, errno.ENOSYS, errno.EPERM):
            return None
        raise OSError(err, os.strerror(err), path)
    size, htype = struct.unpack_from("=Ii", buf, 0)
    return htype, bytes(buf.raw[8 : 8 + size])


def fs_uuid(path: str, dev: int) -> bytes:
    """The 16-byte ``s_uuid`` of the file system holding the directory `path` (zeros if none)."""
    cached = _uuid_cache.get(dev)
    if cached is not None:
        return cached
    value = bytes(16)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return value
    try:
        out = bytearray(17)
        fcntl.ioctl(fd, _FS_IOC_GETFSUUID, out)
        if out[0] == 16:
            value = bytes(out[1:17])
    except OSError:
        pass
    finally:
        os.close(fd)
    _uuid_cache[dev] = value
    return value


def encode_origin(path: str, st: os.stat_result) -> bytes:
    """The ``overlay.origin`` value the kernel writes for a copy-up of `path` (lstat `st`)."""
    handle = file_handle(path)
    if handle is None:
        return b""
    htype, fid = handle
    probe = path if stat.S_ISDIR(st.st_mode) else os.path.dirname(path) or "."
    uuid = fs_uuid(probe, st.st_dev)
    header = struct.pack(
        "BBBBB", _OVL_FH_VERSION, _OVL_FH_MAGIC, 21 + len(fid), _FLAG_CPU_ENDIAN, htype
    )
    return header + uuid + fid
