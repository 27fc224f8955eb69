"""`layerfs info`: what this store and host use, as `docker info` / `podman info` report it.

The storage driver is the one `rootfs.mount_rootfs` would use for a container now:
"overlay" (the kernel driver) when a test mount of a one-layer overlay on the store's
file system succeeds, else "fuse-overlay" (layerfs's FUSE server over the same layers)
when /dev/fuse exists, else "none". `LAYERFS_ROOTFS=fuse|kernel` forces the answer as
it forces the mount. The test mount lives in a temporary dir under the store's
`ingest/` and is unmounted and removed before `probe_storage` returns.

Layer dirs are overlay layers in every case: "Native Overlay Diff" is true because a
container's changes are read from its upper dir (never by comparing trees).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from layerfs.errors import MountError
from layerfs.mounts import kernel
from layerfs.mounts.mount import Mount
from layerfs.runtime import hostinfo
from layerfs.runtime.containers import RUNNING, list_containers
from layerfs.runtime.lifecycle import ENV_RUNTIME, refresh
from layerfs.runtime.rootfs import ENV_DRIVER
from layerfs.runtime.runc import runc_binary
from layerfs.union.whiteouts import WhiteoutFormat

if TYPE_CHECKING:
    from layerfs.store.store import Store

KERNEL, FUSE, NONE = "overlay", "fuse-overlay", "none"


@dataclass(frozen=True)
class StorageInfo:
    """The storage driver and the facts docker lists under it."""

    driver: str
    backing_filesystem: str
    supports_d_type: bool
    native_overlay_diff: bool
    userxattr: bool
    whiteouts: str
    why: str = ""  # why the kernel driver is not used ("" when it is)


@dataclass(frozen=True)
class SystemInfo:
    """Everything `layerfs info` prints (values, computed once by `collect`)."""

    root: str
    storage: StorageInfo
    images: int
    containers: int
    running: int
    paused: int
    stopped: int
    runtime: str
    runtime_version: str
    cgroup_version: str
    fuse: bool
    kernel_version: str
    operating_system: str
    architecture: str
    cpus: int
    mem_total: int
    hostname: str
    layers: int = 0


def fuse_available() -> bool:
    """True if a FUSE mount can be made here: /dev/fuse exists, and as an ordinary
    user fusermount3 is installed."""
    if not os.path.exists("/dev/fuse"):
        return False
    return os.geteuid() == 0 or shutil.which("fusermount3") is not None


def _try_kernel_overlay(store: Store, userxattr: bool) -> str:
    """"" if a kernel overlay mounts under the store's root, else why not."""
    os.makedirs(store.paths.ingest, exist_ok=True)
    base = tempfile.mkdtemp(prefix="info-probe-", dir=store.paths.ingest)
    try:
        dirs = {n: os.path.join(base, n) for n in ("lower", "upper", "work", "merged")}
        for d in dirs.values():
            os.mkdir(d)
        opts = ("userxattr",) if userxattr else ()
        opts += (f"lowerdir={dirs['lower']}", f"upperdir={dirs['upper']}")
        opts += (f"workdir={dirs['work']}",)
        try:
            kernel.mount(Mount("overlay", "overlay", opts), dirs["merged"])
        except MountError as e:  # any refusal: containers would get FUSE too
            return str(e) or errno.errorcode.get(e.errno or 0, "mount refused")
        kernel.umount(dirs["merged"], lazy=True)
        return ""
    finally:
        shutil.rmtree(base, ignore_errors=True)


def probe_storage(store: Store) -> StorageInfo:
    """The storage driver a container mount would use now, and the backing file system's
    facts (see the module docstring). Leaves nothing behind."""
    fmt = store.whiteout_format
    userxattr = fmt is WhiteoutFormat.USERXATTR
    wanted = os.environ.get(ENV_DRIVER, "")
    why = f"{ENV_DRIVER}=fuse" if wanted == "fuse" else _try_kernel_overlay(store, userxattr)
    usable = FUSE if fuse_available() else NONE
    driver = KERNEL if not why or wanted == "kernel" else usable
    root = store.paths.layers
    os.makedirs(root, exist_ok=True)
    return StorageInfo(
        driver=driver,
        backing_filesystem=hostinfo.backing_filesystem(root),
        supports_d_type=hostinfo.supports_d_type(root),
        native_overlay_diff=True,
        userxattr=userxattr,
        whiteouts=fmt.value,
        why=why,
    )


def _runtime() -> str:
    wanted = os.environ.get(ENV_RUNTIME, "")
    if wanted:
        return wanted
    return "runc" if runc_binary() is not None else "chroot"


def collect(store: Store) -> SystemInfo:
    """Probe the store and the host once (counts as `ps -a` and `images` show them)."""
    states = [refresh(store, c).state.status for c in list_containers(store)]
    running = sum(s == RUNNING for s in states)
    runtime = _runtime()
    return SystemInfo(
        root=store.paths.root,
        storage=probe_storage(store),
        images=len(store.images()),
        layers=len(store.layers()),
        containers=len(states),
        running=running,
        paused=0,  # layerfs has no pause: nothing is ever paused
        stopped=len(states) - running,  # docker: every state but running and paused
        runtime=runtime,
        runtime_version=hostinfo.runc_version() if runtime == "runc" else "",
        cgroup_version=hostinfo.cgroup_version(),
        fuse=fuse_available(),
        kernel_version=hostinfo.kernel_version(),
        operating_system=hostinfo.os_name(),
        architecture=hostinfo.architecture(),
        cpus=os.cpu_count() or 1,
        mem_total=hostinfo.mem_total(),
        hostname=os.uname().nodename,
    )
