"""The kernel driver: the only module of layerfs that calls mount syscalls (via ctypes).

`mount(m, target)` performs a `Mount` value: overlay, bind/rbind, and the pseudo
filesystems containers need (tmpfs, proc, sysfs, devpts, mqueue...). An overlay whose
option string fits in one page (the limit of mount(2)'s data argument, NUL included) is
mounted with the classic mount(2); a longer one with the new mount API: `fsopen`,
`fsconfig("lowerdir+", path)` once per layer (first given = top), `fsmount`,
`move_mount`, so up to 500 layers mount whatever their path lengths. Failures raise
`MountError` carrying the errno and, with the new API, the kernel's own message (read
from the filesystem-context fd).

Nothing here retries, and nothing is left behind by a failed call: a mount either
happens completely or not at all.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import shutil
import subprocess

from layerfs.errors import InvalidOption, MountError, Unsupported
from layerfs.mounts.abi import (
    AT_FDCWD,
    FSCONFIG_CMD_CREATE,
    FSCONFIG_MAX_STRING,
    FSCONFIG_SET_FD,
    FSCONFIG_SET_FLAG,
    FSCONFIG_SET_STRING,
    FSMOUNT_CLOEXEC,
    FSOPEN_CLOEXEC,
    MNT_DETACH,
    MOVE_MOUNT_F_EMPTY_PATH,
    MS_BIND,
    MS_PRIVATE,
    MS_REC,
    MS_REMOUNT,
    MS_SHARED,
    MS_SLAVE,
    MS_TO_ATTR,
    MS_UNBINDABLE,
    SB_FLAGS,
    SYSCALLS,
)
from layerfs.mounts.kmsg import KernelLog
from layerfs.mounts.mntid import mount_id
from layerfs.mounts.mount import Mount
from layerfs.mounts.options import VFS_FLAGS, OverlayOptions, check_source, escape_path

_OVERLAY_LOG = "overlayfs: "  # the prefix of overlayfs's pr_err records
_LAYER_PARAMS = ("lowerdir+", "datadir+", "upperdir", "workdir")
_PROPAGATION = {
    "private": MS_PRIVATE,
    "slave": MS_SLAVE,
    "shared": MS_SHARED,
    "unbindable": MS_UNBINDABLE,
}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.syscall.restype = ctypes.c_long


def page_size() -> int:
    """The largest option string (NUL included) the classic mount(2) accepts."""
    return os.sysconf("SC_PAGE_SIZE")


def _error(code: int, message: str) -> MountError:
    err = MountError(message)
    err.errno = code
    return err


def _enc(text: str | None) -> bytes | None:
    """C string for libc; a NUL inside would silently cut it short, so it is refused."""
    if text is None:
        return None
    if "\0" in text:
        raise InvalidOption(f"{text.split(chr(0))[0]!r}...: contains a NUL byte")
    return os.fsencode(text)


def _sys_mount(
    source: str | None,
    target: str,
    fstype: str | None,
    flags: int,
    data: str | None,
    *,
    log_prefix: str | None = None,
) -> None:
    """mount(2); on failure a MountError with the kernel log's records that start with
    `log_prefix` (when given and readable), else a plain explanation of the errno."""
    args = (_enc(source), _enc(target), _enc(fstype), flags, _enc(data))
    if log_prefix is None:
        if _libc.mount(*args) == 0:
            return
        code, log = ctypes.get_errno(), []
    else:
        with KernelLog(log_prefix) as kmsg:
            if _libc.mount(*args) == 0:
                return
            code, log = ctypes.get_errno(), kmsg.lines()
    detail = "; ".join(log) or _explain(code)
    raise _error(code, f"mount {fstype or 'bind'} on {target}: {detail}")


def _explain(code: int) -> str:
    if code == errno.EPERM:
        return "operation not permitted (mounting needs root or a user namespace)"
    if code == errno.EINVAL:
        return "invalid argument (the kernel refused the options; see dmesg)"
    return os.strerror(code)


# -- the new mount API ----------------------------------------------------------------


def _syscall(name: str, *args: object) -> int:
    table = SYSCALLS.get(platform.machine())
    if table is None:
        raise Unsupported(f"the new mount API is not wired for {platform.machine()}")
    res = _libc.syscall(ctypes.c_long(table[name]), *args)
    if res < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return int(res)


def _fs_log(fd: int) -> list[str]:
    """Drain the messages the kernel queued on a filesystem-context fd ("e overlay: ...")."""
    lines: list[str] = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return lines  # ENODATA: the log is empty
        if not chunk:
            return lines
        text = chunk.decode(errors="replace").strip()
        lines.append(text[2:] if text[:2] in ("e ", "w ", "i ") else text)


def _fsconfig(
    fd: int, cmd: int, key: str | None = None, value: str | None = None, aux: int = 0
) -> None:
    _syscall(
        "fsconfig",
        ctypes.c_int(fd),
        ctypes.c_uint(cmd),
        ctypes.c_char_p(_enc(key)),
        ctypes.c_char_p(_enc(value)),
        ctypes.c_int(aux),
    )


def _fsconfig_layer(fd: int, key: str, path: str) -> None:
    """Give one layer to the context. fsconfig strings are capped at 255 bytes, so a longer
    path goes as an open directory fd (FSCONFIG_SET_FD; overlay takes those since 6.13)."""
    value = path if key.endswith("+") else escape_path(path)  # upper/work get unescaped
    if len(os.fsencode(value)) <= FSCONFIG_MAX_STRING:
        _fsconfig(fd, FSCONFIG_SET_STRING, key, value)
        return
    dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _fsconfig(fd, FSCONFIG_SET_FD, key, None, dfd)
    finally:
        os.close(dfd)


def _overlay_new_api(opts: OverlayOptions, source: str, target: str, flags: int) -> None:
    with KernelLog(_OVERLAY_LOG) as kmsg:
        _overlay_fs_context(opts, source, target, flags, kmsg)


def _overlay_params(opts: OverlayOptions, source: str, flags: int) -> list[tuple[str, str | None]]:
    """The fsconfig calls for `opts`, in order, as (key, value); value None = a flag."""
    params: list[tuple[str, str | None]] = [("source", source)]
    params += [("lowerdir+", p) for p in opts.lowerdirs]
    params += [("datadir+", p) for p in opts.datadirs]
    params += [(k, p) for k, p in (("upperdir", opts.upperdir), ("workdir", opts.workdir)) if p]
    params += [(k, v or None) for k, v in opts.settings]
    # superblock flags are parameters here; the per-mount ones become fsmount attributes
    params += [(name, None) for bit, name in SB_FLAGS.items() if flags & bit]
    return params


def _overlay_fs_context(
    opts: OverlayOptions, source: str, target: str, flags: int, kmsg: KernelLog
) -> None:
    try:
        fd = _syscall("fsopen", ctypes.c_char_p(b"overlay"), ctypes.c_uint(FSOPEN_CLOEXEC))
    except OSError as e:
        raise _error(e.errno or 0, f"fsopen(overlay): {e.strerror}") from None
    step = "fsconfig"
    try:
        for key, value in _overlay_params(opts, source, flags):
            step = key if value is None else f"{key} {value}"
            if key in _LAYER_PARAMS and value is not None:
                _fsconfig_layer(fd, key, value)
            elif value is None:
                _fsconfig(fd, FSCONFIG_SET_FLAG, key)
            else:
                _fsconfig(fd, FSCONFIG_SET_STRING, key, value)
        step = "create"
        _fsconfig(fd, FSCONFIG_CMD_CREATE)
        step = "fsmount"
        _attach(fd, target, sum(attr for ms, attr in MS_TO_ATTR.items() if flags & ms))
    except OSError as e:
        log = "; ".join(_fs_log(fd) or kmsg.lines())
        detail = log or _explain(e.errno or 0)
        raise _error(e.errno or 0, f"mount overlay on {target} ({step}): {detail}") from None
    finally:
        os.close(fd)


def _attach(fs_fd: int, target: str, attrs: int) -> None:
    """fsmount the created superblock and move the new mount onto `target`."""
    mfd = _syscall(
        "fsmount", ctypes.c_int(fs_fd), ctypes.c_uint(FSMOUNT_CLOEXEC), ctypes.c_uint(attrs)
    )
    try:
        _syscall(
            "move_mount",
            ctypes.c_int(mfd),
            ctypes.c_char_p(b""),
            ctypes.c_int(AT_FDCWD),
            ctypes.c_char_p(_enc(target)),
            ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH),
        )
    finally:
        os.close(mfd)


# -- public API -------------------------------------------------------------------------


def split_flags(options: tuple[str, ...]) -> tuple[int, list[str], list[str]]:
    """(MS_* flags, propagation names, remaining data options) of a `Mount`'s options."""
    flags = 0
    propagation: list[str] = []
    data: list[str] = []
    for opt in options:
        if opt in VFS_FLAGS:
            bit, on = VFS_FLAGS[opt]
            flags = flags | bit if on else flags & ~bit
        elif opt.lstrip("r") in _PROPAGATION:
            propagation.append(opt)
        else:
            data.append(opt)
    return flags, propagation, data


def check_target(target: str, *, directory: bool = True) -> None:
    """A mount point must exist (a directory, unless a file is bind-mounted on it)."""
    if "\0" in target:
        raise InvalidOption("mount point: path contains a NUL byte")
    if not os.path.lexists(target):
        raise InvalidOption(f"mount point {target}: no such {'directory' if directory else 'file'}")
    if directory and not os.path.isdir(target):
        raise InvalidOption(f"mount point {target}: not a directory")


def mount_overlay(opts: OverlayOptions, target: str, *, source: str = "overlay") -> None:
    """Mount an overlay of `opts` on `target` (an existing directory).

    Validates first (`InvalidOption`, nothing written); then mount(2) if the option
    string fits in a page, else the new mount API. Raises `MountError` (errno set, the
    kernel's message where it gives one) if the kernel refuses.
    """
    opts.validate()
    check_source(source)
    check_target(target)
    flags, _, _ = split_flags(opts.flags)
    data = ",".join(opts.data_options())
    if len(os.fsencode(data)) + 1 <= page_size():
        _sys_mount(source, target, "overlay", flags, data, log_prefix=_OVERLAY_LOG)
    else:
        _overlay_new_api(opts, source, target, flags)


def mount(m: Mount, target: str) -> None:
    """Perform `m` on `target`.

    overlay: see `mount_overlay`. bind: type "bind" (or an option "bind"/"rbind"),
    then a bind remount for flags such as `ro`. Any other type (tmpfs, proc, sysfs,
    devpts, mqueue, cgroup2...) goes to mount(2) with its VFS flags as flags and the
    other options as data. Propagation options (`private`, `rslave`...) apply after.
    """
    if m.type == "overlay":
        mount_overlay(OverlayOptions.from_mount(m), target, source=m.source)
        return
    flags, propagation, data = split_flags(m.options)
    bind = m.type == "bind" or "bind" in data or "rbind" in data
    check_target(target, directory=not bind or os.path.isdir(m.source))
    if bind:
        recursive = "rbind" in data
        _sys_mount(m.source, target, None, MS_BIND | (MS_REC if recursive else 0), None)
    else:
        _sys_mount(m.source, target, m.type, flags, ",".join(data) or None)
    try:
        if bind and flags:  # a bind mount takes its flags only from a remount
            _sys_mount(None, target, None, MS_REMOUNT | MS_BIND | flags, None)
        for name in propagation:
            set_propagation(target, name.lstrip("r"), recursive=name.startswith("r"))
    except (MountError, InvalidOption):
        _libc.umount2(_enc(target), MNT_DETACH)  # all or nothing
        raise


def set_propagation(target: str, kind: str, *, recursive: bool = False) -> None:
    """Set the propagation of the mount at `target` (`mount --make-[r]KIND`)."""
    if kind not in _PROPAGATION:
        raise InvalidOption(f"propagation {kind!r}: must be one of {', '.join(_PROPAGATION)}")
    _sys_mount(None, target, None, _PROPAGATION[kind] | (MS_REC if recursive else 0), None)


def umount(target: str, lazy: bool = False) -> None:
    """Unmount `target` (umount2; `lazy` = MNT_DETACH). As non-root, a FUSE mount of the
    caller's is unmounted with `fusermount3 -u`. Raises MountError with a clear message."""
    if _libc.umount2(_enc(target), MNT_DETACH if lazy else 0) == 0:
        return
    code = ctypes.get_errno()
    if code == errno.EPERM and os.geteuid() != 0 and shutil.which("fusermount3"):
        _fusermount_umount(target, lazy)
        return
    if code == errno.EINVAL:
        raise _error(code, f"umount {target}: not a mount point")
    if code == errno.ENOENT:
        raise _error(code, f"umount {target}: no such file or directory")
    if code == errno.EBUSY:
        raise _error(code, f"umount {target}: target is busy (in use; try a lazy umount)")
    if code == errno.ENOTCONN:
        raise _error(code, f"umount {target}: FUSE server gone (transport not connected)")
    if code == errno.EPERM:
        raise _error(code, f"umount {target}: operation not permitted (needs root)")
    raise _error(code, f"umount {target}: {os.strerror(code)}")


def _fusermount_umount(target: str, lazy: bool) -> None:
    """The unprivileged way out of a FUSE mount of one's own (setuid fusermount3)."""
    argv = ["fusermount3", "-u", *(["-z"] if lazy else []), target]
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        lines = res.stderr.strip().splitlines()
        why = lines[-1] if lines else f"exit status {res.returncode}"
        raise _error(
            errno.EPERM,
            f"umount {target}: operation not permitted (needs root; fusermount3 -u: {why})",
        )


def is_mountpoint(path: str) -> bool:
    """True if `path` is the root of a mount (a disconnected FUSE mount counts; a symlink
    is not followed and never is one)."""
    if "\0" in path:
        return False
    try:
        here = mount_id(path, follow=False)
        parent = os.path.dirname(os.path.abspath(path))
        if os.path.abspath(path) == "/":
            return True
        return here != mount_id(parent)
    except OSError as e:
        if e.errno == errno.ENOTCONN:
            return True
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return False
        raise
