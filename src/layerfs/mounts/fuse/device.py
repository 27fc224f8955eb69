"""The FUSE device: getting a connected /dev/fuse fd, its ioctls, and unmounting.

Two ways to a mounted connection, as libfuse does it:

- root: open ``/dev/fuse`` and call mount(2) with ``fd=N,rootmode=...`` (`mount_direct`);
- anyone else: run the setuid ``fusermount3`` with ``_FUSE_COMMFD`` naming one end of a
  socketpair; it mounts and sends the device fd back by SCM_RIGHTS (`mount_fusermount`).

Unmounting is `layerfs.mounts.kernel.umount` (umount2, or fusermount3 -u for others).
"""

from __future__ import annotations

import array
import ctypes
import ctypes.util
import errno
import fcntl
import os
import shutil
import socket
import stat
import subprocess

from layerfs.errors import MountError, Unsupported
from layerfs.mounts import abi
from layerfs.mounts.fuse import protocol as p

#: The MS_* flags a FUSE mount gets unless the options say otherwise (as libfuse does).
DEFAULT_FLAGS = abi.MS_NOSUID | abi.MS_NODEV
# MS_* flags fusermount3 takes as option names (it always adds nosuid,nodev itself).
_FUSERMOUNT_NAMES = (
    (abi.MS_NOEXEC, "noexec"),
    (abi.MS_SYNCHRONOUS, "sync"),
    (abi.MS_DIRSYNC, "dirsync"),
    (abi.MS_NOATIME, "noatime"),
    (abi.MS_NODIRATIME, "nodiratime"),
    (abi.MS_STRICTATIME, "strictatime"),
)

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]


def fusermount_path() -> str:
    """The fusermount3 binary; `Unsupported` if it is not installed."""
    path = shutil.which("fusermount3") or shutil.which("fusermount")
    if path is None:
        raise Unsupported("fusermount3 is not installed (package fuse3)")
    return path


def mount_direct(target: str, fsname: str, *, flags: int, allow_other: bool) -> int:
    """Open /dev/fuse and mount it on `target` as type fuse.layerfs; returns the fd.

    `flags` are the MS_* mount flags (`DEFAULT_FLAGS` changed by the mount's VFS
    options). Needs CAP_SYS_ADMIN. The caller owns the fd; on error nothing stays mounted.
    """
    fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    rootmode = stat.S_IFMT(os.stat(target).st_mode)
    data = f"fd={fd},rootmode={rootmode:o},user_id={os.getuid()},group_id={os.getgid()}"
    data += ",default_permissions"
    if allow_other:
        data += ",allow_other"
    res = _libc.mount(
        os.fsencode(fsname), os.fsencode(target), b"fuse.layerfs", flags, data.encode()
    )
    if res != 0:
        err = ctypes.get_errno()
        os.close(fd)
        raise MountError(err, f"mount fuse.layerfs on {target}: {os.strerror(err)}")
    return fd


def mount_fusermount(target: str, fsname: str, *, flags: int, allow_other: bool) -> int:
    """Mount through fusermount3 (no privilege needed); returns the received device fd.

    `flags` as for `mount_direct`, except that suid and dev are never granted.
    """
    opts = "ro" if flags & abi.MS_RDONLY else "rw"
    opts += "".join("," + name for bit, name in _FUSERMOUNT_NAMES if flags & bit)
    opts += f",nosuid,nodev,default_permissions,fsname={fsname},subtype=layerfs"
    if allow_other:
        opts += ",allow_other"
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        env = dict(os.environ, _FUSE_COMMFD=str(theirs.fileno()))
        proc = subprocess.run(
            [fusermount_path(), "-o", opts, "--", target],
            env=env,
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        theirs.close()
        if proc.returncode != 0:
            msg = proc.stderr.strip() or f"fusermount3 exited with {proc.returncode}"
            raise MountError(errno.EPERM, msg)
        return _receive_fd(ours)
    finally:
        theirs.close()
        ours.close()


def _receive_fd(sock: socket.socket) -> int:
    fds = array.array("i")
    _msg, ancdata, _flags, _addr = sock.recvmsg(1, socket.CMSG_SPACE(fds.itemsize))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    if not fds:
        raise MountError(errno.EIO, "fusermount3 did not send the /dev/fuse fd")
    os.set_inheritable(fds[0], False)
    return fds[0]


def clone(fd: int) -> int:
    """A new /dev/fuse fd attached to the same connection (one per worker thread)."""
    new = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(new, p.DEV_IOC_CLONE, array.array("I", [fd]))
    except OSError:
        os.close(new)
        raise
    return new


def backing_open(dev_fd: int, fd: int) -> int:
    """Register `fd` as a passthrough backing file; returns its backing id (root only)."""
    buf = bytearray(p.BACKING_MAP.pack(fd, 0, 0))
    return fcntl.ioctl(dev_fd, p.DEV_IOC_BACKING_OPEN, buf, True)


def backing_close(dev_fd: int, backing_id: int) -> None:
    """Drop our reference to a backing id (open files keep theirs)."""
    fcntl.ioctl(dev_fd, p.DEV_IOC_BACKING_CLOSE, array.array("I", [backing_id]))
