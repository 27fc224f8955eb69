"""Running a mount: options → union → mount → serve, in the foreground or as a daemon.

`serve` does the whole life of a mount in the calling process and returns after the
mount is gone. `start_background` runs `serve` in a new session-leader process
(``python -m layerfs.mounts.fuse.daemon``) and returns once the mount answers requests,
or raises the error the daemon met. SIGTERM, SIGINT and SIGHUP unmount (lazily if busy):
the daemon keeps serving open files until the kernel ends the connection, then syncs
the upper dir and exits, so no acknowledged write is lost.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass

from layerfs import union
from layerfs.errors import InvalidOption, MountError
from layerfs.mounts import kernel
from layerfs.mounts.abi import MS_RDONLY
from layerfs.mounts.fuse import device
from layerfs.mounts.fuse.core import Filesystem
from layerfs.mounts.fuse.session import Session
from layerfs.mounts.mount import Mount
from layerfs.mounts.options import VFS_FLAGS, OverlayOptions, parse_options, split_unescaped
from layerfs.union.whiteouts import WhiteoutFormat

#: FUSE-only options (not overlay ones): allow_other, threads=N, passthrough=on|off.
FUSE_OPTIONS = ("allow_other", "threads", "passthrough")
# Options mount(8) passes to helpers that mean nothing to the server (and x-*, comment=).
_IGNORED = ("_netdev", "noauto", "auto", "user", "users", "nouser", "defaults", "nofail")


@dataclass(frozen=True)
class FuseConfig:
    """What one FUSE mount serves and how."""

    overlay: OverlayOptions
    source: str
    allow_other: bool = False
    threads: int = 2
    passthrough: bool | None = None  # None: as root only

    @property
    def readonly(self) -> bool:
        return self.overlay.readonly

    @property
    def mount_flags(self) -> int:
        """The MS_* flags to mount with: nosuid,nodev unless the options say suid/dev,
        then every VFS option given (``noexec``, ``noatime``...), read-only without upper."""
        flags = device.DEFAULT_FLAGS
        for name in self.overlay.flags:
            bit, on = VFS_FLAGS[name]
            flags = flags | bit if on else flags & ~bit
        return flags | MS_RDONLY if self.readonly else flags & ~MS_RDONLY


def config_of(m: Mount) -> FuseConfig:
    """The configuration of a ``fuse.layerfs`` `Mount`; `InvalidOption` for bad options."""
    if m.type not in ("fuse.layerfs", "fuse", "layerfs"):
        raise InvalidOption(f"mount type {m.type!r} is not fuse.layerfs")
    overlay_opts: list[str] = []
    allow_other, threads, passthrough = False, 2, None
    for part in split_unescaped(",".join(m.options), ","):
        key, _, value = part.partition("=")
        if key == "allow_other":
            allow_other = True
        elif key == "threads":
            if not value.isdigit() or not 1 <= int(value) <= 64:
                raise InvalidOption(f"threads={value}: give a number from 1 to 64")
            threads = int(value)
        elif key == "passthrough":
            if value not in ("on", "off"):
                raise InvalidOption(f"passthrough={value}: give on or off")
            passthrough = value == "on"
        elif part and key not in _IGNORED and key != "default_permissions" \
                and not key.startswith(("x-", "comment")):
            overlay_opts.append(part)
    overlay = parse_options(",".join(overlay_opts)).absolute()
    if not overlay.lowerdirs:
        raise InvalidOption("lowerdir: at least one lower layer is needed")
    if (overlay.upperdir is None) != (overlay.workdir is None):
        raise InvalidOption("upperdir and workdir: give both or neither")
    return FuseConfig(overlay, m.source or "layerfs", allow_other, threads, passthrough)


def whiteout_format(cfg: FuseConfig) -> WhiteoutFormat:
    """The on-disk form this mount writes: KERNEL as root; otherwise USERXATTR, falling
    back to XATTR where device whiteouts are refused and to OCI where xattrs are too."""
    if os.geteuid() == 0 and not cfg.overlay.userxattr:
        return WhiteoutFormat.KERNEL
    work = cfg.overlay.workdir
    if work is None:
        return WhiteoutFormat.default()
    with tempfile.TemporaryDirectory(prefix=".probe-", dir=work) as probe:
        name = os.path.join(probe, "wh")
        try:
            os.mknod(name, stat.S_IFCHR | 0o000, os.makedev(0, 0))
            device_ok = True
        except OSError:
            device_ok = False
        try:
            with open(os.path.join(probe, "x"), "wb"):
                pass
            os.setxattr(os.path.join(probe, "x"), "user.overlay.probe", b"y")
            xattr_ok = True
        except OSError:
            xattr_ok = False
    if device_ok and xattr_ok:
        return WhiteoutFormat.USERXATTR
    return WhiteoutFormat.XATTR if xattr_ok else WhiteoutFormat.OCI


def make_view(cfg: FuseConfig) -> union.UnionView:
    """The union this mount serves (`InvalidOption` from the engine for bad layers)."""
    o = cfg.overlay
    # Directory rename works by default (redirect), unlike the kernel's module default.
    redirect = o.setting("redirect_dir") not in ("off", "nofollow")
    if o.workdir is not None and os.geteuid() != 0:
        # The kernel's workdir/work has mode 0, which only a privileged writer can use;
        # the server runs as the user, so its scratch dir must be the user's own.
        scratch = os.path.join(o.workdir, "work")
        try:
            os.mkdir(scratch, 0o700)
        except FileExistsError:
            if os.lstat(scratch).st_uid == os.geteuid():
                os.chmod(scratch, 0o700)
    return union.UnionView(
        list(o.lowerdirs),
        o.upperdir,
        o.workdir,
        whiteouts=whiteout_format(cfg) if o.upperdir is not None else None,
        redirect_dir=redirect,
    )


def serve(m: Mount, target: str, ready: Callable[[], None] | None = None) -> None:
    """Mount `m` on `target` and serve it until unmounted (foreground).

    `ready` is called once the mount answers requests. Errors before that are raised
    (`InvalidOption`, `MountError`); nothing stays mounted after an error.
    """
    cfg = config_of(m)
    kernel.check_target(target)
    target = os.path.abspath(target)
    os.umask(0)  # the kernel applied the caller's umask already
    view = make_view(cfg)
    fs = Filesystem(view, readonly=cfg.readonly)
    if os.geteuid() == 0:
        fd = device.mount_direct(target, cfg.source, flags=cfg.mount_flags, allow_other=True)
    else:
        fd = device.mount_fusermount(
            target, cfg.source, flags=cfg.mount_flags, allow_other=cfg.allow_other
        )
    session = Session(fs, fd, threads=cfg.threads, passthrough=cfg.passthrough)
    try:
        session.init()
    except BaseException:
        with contextlib.suppress(OSError):
            kernel.umount(target, lazy=True)
        os.close(fd)
        raise
    _install_signals(target)
    if os.geteuid() == 0:
        threading.Thread(target=_set_readahead, args=(target,), daemon=True).start()
    if ready is not None:
        ready()
    session.run()
    if cfg.overlay.upperdir is not None:
        _syncfs(cfg.overlay.upperdir)


def _install_signals(target: str) -> None:
    def stop(_signo: int, _frame: object) -> None:
        threading.Thread(target=_unmount_quietly, args=(target,), daemon=True).start()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)


def _unmount_quietly(target: str) -> None:
    try:
        kernel.umount(target)
    except MountError as e:
        if e.errno == errno.EBUSY or "busy" in str(e):
            with contextlib.suppress(MountError):
                kernel.umount(target, lazy=True)


def _set_readahead(target: str) -> None:
    # The kernel caps readahead at the bdi's default (128 KiB) at INIT; 1 MiB doubles
    # cold sequential reads. The bdi of a FUSE mount is named after its st_dev.
    dev = os.stat(target).st_dev
    path = f"/sys/class/bdi/{os.major(dev)}:{os.minor(dev)}/read_ahead_kb"
    with contextlib.suppress(OSError), open(path, "w") as f:
        f.write("1024")


def _syncfs(path: str) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        libc.syncfs(fd)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- daemon


def start_background(m: Mount, target: str, *, log: str | None = None) -> int:
    """Start a daemon serving `m` on `target`; returns its pid once the mount is ready.

    The daemon's stderr goes to `log` (or $LAYERFS_FUSE_LOG, else nowhere). Raises the
    daemon's error (`InvalidOption`, `MountError`) if it could not mount.
    """
    r, w = os.pipe()
    log = log or os.environ.get("LAYERFS_FUSE_LOG")
    spec = json.dumps({"type": m.type, "source": m.source, "options": list(m.options)})
    with open(log or os.devnull, "ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "layerfs.mounts.fuse.daemon", spec, target, str(w)],
            pass_fds=(w,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        msg = pipe.read().decode("utf-8", "replace")
    if msg.startswith("ready"):
        return proc.pid
    proc.wait()
    kind, _, text = msg.partition(" ")
    if kind == "invalid":
        raise InvalidOption(text)
    code, _, text = text.partition(" ")
    if not msg:
        text = f"the FUSE daemon exited with status {proc.returncode} before the mount was ready"
    raise MountError(int(code) if code.isdigit() else errno.EIO, text)


def _daemon_main(argv: list[str]) -> int:
    spec, target, wfd = json.loads(argv[0]), argv[1], int(argv[2])
    m = Mount(spec["type"], spec["source"], tuple(spec["options"]))
    pipe = os.fdopen(wfd, "wb", buffering=0)

    def ready() -> None:
        pipe.write(b"ready")
        pipe.close()

    try:
        serve(m, target, ready)
    except InvalidOption as e:
        if not pipe.closed:
            pipe.write(f"invalid {e}".encode())
        return 2
    except OSError as e:
        if not pipe.closed:
            pipe.write(f"error {e.errno or errno.EIO} {e}".encode())
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(_daemon_main(sys.argv[1:]))
