"""Facts about the host that `layerfs info` reports: kernel, OS, CPUs, memory, cgroup
version, the runc version, the file system type under a path and its d_type support.

Every function only reads (statfs, /proc, /etc/os-release, `runc --version`) except
`supports_d_type`, which creates and removes one file in the directory it is given.
None raises for a missing fact: it is reported as "" (or False).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import subprocess

from layerfs.runtime.runc import runc_binary

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.opendir.restype = ctypes.c_void_p
_libc.opendir.argtypes = [ctypes.c_char_p]
_libc.readdir.restype = ctypes.c_void_p
_libc.readdir.argtypes = [ctypes.c_void_p]
_libc.closedir.argtypes = [ctypes.c_void_p]

#: statfs f_type → the name docker prints as "Backing Filesystem" (daemon/graphdriver)
FS_NAMES: dict[int, str] = {
    0xEF53: "extfs",
    0x58465342: "xfs",
    0x9123683E: "btrfs",
    0x2FC12FC1: "zfs",
    0x01021994: "tmpfs",
    0x794C7630: "overlayfs",
    0x65735546: "fuse",
    0x6969: "nfs",
    0x63677270: "cgroup2",
    0x27E0EB: "cgroup",
}
_CGROUP2_MAGIC = 0x63677270
_DT_UNKNOWN = 0
# struct dirent (glibc, 64-bit): d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name
_DTYPE_OFFSET = 8 + 8 + 2
_NAME_OFFSET = _DTYPE_OFFSET + 1


def fs_magic(path: str) -> int:
    """statfs(2)'s f_type of the file system holding `path` (0 if statfs fails)."""
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on x86_64
    if _libc.statfs(os.fsencode(path), buf) != 0:
        return 0
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


def backing_filesystem(path: str) -> str:
    """docker's name for the file system under `path` ("extfs", "xfs", ...), else its
    magic number in hex."""
    magic = fs_magic(path)
    return FS_NAMES.get(magic, f"0x{magic:x}")


def supports_d_type(directory: str) -> bool:
    """True if readdir(3) in `directory` reports file types (overlay needs it on the
    upper dir's file system: docker's "Supports d_type"). Creates and removes one file."""
    probe = os.path.join(directory, f".d_type-probe-{os.getpid()}")
    with open(probe, "w"):
        pass
    try:
        handle = _libc.opendir(os.fsencode(directory))
        if not handle:
            return False
        try:
            while entry := _libc.readdir(handle):
                name = ctypes.string_at(entry + _NAME_OFFSET)
                if name == os.fsencode(os.path.basename(probe)):
                    return ctypes.c_ubyte.from_address(entry + _DTYPE_OFFSET).value != _DT_UNKNOWN
        finally:
            _libc.closedir(handle)
        return False
    finally:
        os.unlink(probe)


def cgroup_version() -> str:
    """"2" when /sys/fs/cgroup is the unified hierarchy, else "1" (hybrid counts as 1,
    as docker reports it)."""
    return "2" if fs_magic("/sys/fs/cgroup") == _CGROUP2_MAGIC else "1"


def runc_version() -> str:
    """The version runc prints ("1.1.5"), "" when runc is missing or says nothing."""
    binary = runc_binary()
    if binary is None:
        return ""
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    first = out.splitlines()[0] if out else ""
    return first.removeprefix("runc version").strip()


def os_name() -> str:
    """PRETTY_NAME of /etc/os-release ("Debian GNU/Linux 12 (bookworm)"), else ""."""
    try:
        with open("/etc/os-release") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == "PRETTY_NAME":
                    return value.strip('"')
    except OSError:
        pass
    return ""


def mem_total() -> int:
    """Bytes of RAM (MemTotal of /proc/meminfo), 0 if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def kernel_version() -> str:
    """uname -r."""
    return platform.release()


def architecture() -> str:
    """uname -m ("x86_64")."""
    return platform.machine()
