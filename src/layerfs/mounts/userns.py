"""Unprivileged kernel overlay mounts, inside a new user + mount namespace.

Since Linux 5.11 a process that is not root may mount an overlay in a mount namespace
owned by a user namespace it created, with the `userxattr` option (markers are then
`user.overlay.*`). Such a mount is **visible only inside that namespace**: to everyone
else, and to the caller's own shell, the merged directory stays empty. So the useful
form is "mount, then run a command in there" (`run_in_namespace`); a mount that every
process sees needs root or the FUSE driver (`layerfs.mounts.fuse`).

The caller's uid and gid are mapped to themselves (the command runs as the caller,
files it creates in upperdir belong to the caller); any other owner shows as the
overflow id (nobody) inside.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

from layerfs.errors import InvalidInput, InvalidOption, MountError, Unsupported
from layerfs.mounts import kernel
from layerfs.mounts.options import OverlayOptions

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.unshare.argtypes = [ctypes.c_int]

_KNOBS = (
    ("/proc/sys/kernel/unprivileged_userns_clone", "0", "kernel.unprivileged_userns_clone=0"),
    ("/proc/sys/user/max_user_namespaces", "0", "user.max_user_namespaces=0"),
    (
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        "1",
        "kernel.apparmor_restrict_unprivileged_userns=1",
    ),
)


def restriction() -> str | None:
    """The sysctl that forbids unprivileged user namespaces here, or None when none does
    (the kernel may still refuse: `run_in_namespace` then says so)."""
    for path, bad, name in _KNOBS:
        try:
            value = Path(path).read_text().strip()
        except OSError:
            continue  # absent: this kernel has no such knob
        if value == bad:
            return name
    return None


def unavailable_message(reason: str) -> str:
    """One line: why an unprivileged kernel mount is impossible and what to use instead."""
    return (
        f"unprivileged kernel overlay mounts are not possible here ({reason}); "
        "run as root, or use the FUSE driver (--driver fuse)"
    )


def run_in_namespace(
    opts: OverlayOptions, target: str, argv: Sequence[str], *, source: str = "overlay"
) -> int:
    """Mount `opts` (plus `userxattr`) on `target` in a new user + mount namespace, run
    `argv` there, and return its exit status (128+N if killed by signal N).

    The mount disappears with the namespace when `argv` and its children exit; nothing
    is left mounted. Raises `InvalidOption` for bad options (nothing written),
    `Unsupported` when user namespaces are forbidden, `MountError` when the kernel
    refuses the mount, `FileNotFoundError` if argv[0] cannot be executed.
    """
    if not argv:
        raise ValueError("run_in_namespace needs a command")
    opts = opts.with_setting("userxattr")
    opts.validate()
    kernel.check_target(target)
    if shutil.which(argv[0]) is None:
        raise FileNotFoundError(errno.ENOENT, "command not found", argv[0])
    why = restriction()
    if why is not None:
        raise Unsupported(unavailable_message(why))
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    # ^C belongs to the command: the parent ignores it from before the fork to the end
    in_main = threading.current_thread() is threading.main_thread()  # signal() needs it
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child (coverage cannot see it)
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.close(read_fd)
                _child(opts, target, argv, source, write_fd)
            finally:
                os._exit(127)  # never return into the parent's code
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            report = pipe.read().decode(errors="replace")
        _, status = os.waitpid(pid, 0)
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
    if report:
        kind, _, message = report.partition(":")
        if kind == "unsupported":
            raise Unsupported(message)
        if kind == "noexec":
            raise FileNotFoundError(errno.ENOENT, message, argv[0])
        if kind == "invalid":
            raise InvalidOption(message)
        raise MountError(message)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _child(
    opts: OverlayOptions, target: str, argv: Sequence[str], source: str, report_fd: int
) -> None:
    """In the forked child: unshare, map ids, mount, exec. Never returns. Failures are
    written to `report_fd` as "kind:message" (the fd closes silently on a good exec)."""
    try:
        uid, gid = os.geteuid(), os.getegid()
        if _libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
            code = ctypes.get_errno()
            _report(report_fd, "unsupported", unavailable_message(f"unshare: {os.strerror(code)}"))
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
        kernel.set_propagation("/", "private", recursive=True)
        kernel.mount_overlay(opts, target, source=source)
    except InvalidInput as e:
        _report(report_fd, "invalid", str(e))
    except Exception as e:  # everything must reach the parent as one line
        _report(report_fd, "mount", str(e))
    try:
        os.execvp(argv[0], list(argv))
    except OSError as e:
        _report(report_fd, "noexec", f"{argv[0]}: {e.strerror}")


def _report(fd: int, kind: str, message: str) -> None:
    os.write(fd, f"{kind}:{message}".encode())
    os._exit(127)
