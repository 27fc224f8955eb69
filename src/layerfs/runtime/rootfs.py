"""A container's root file system: its snapshot's union mounted on `containers/<id>/merged`,
and the files docker bind-mounts over /etc (hosts, hostname, resolv.conf).

The kernel overlay is used when this process may mount it; otherwise (EPERM, or
`LAYERFS_ROOTFS=fuse`) the FUSE driver serves the same layers. `LAYERFS_ROOTFS=kernel`
refuses the fallback.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from layerfs.errors import MountError
from layerfs.mounts import kernel
from layerfs.mounts.mount import Mount
from layerfs.runtime.containers import Container, path_of
from layerfs.store.durable import mounted_under

if TYPE_CHECKING:
    from layerfs.store.store import Store

ENV_DRIVER = "LAYERFS_ROOTFS"


def is_mounted(store: Store, cid: str) -> bool:
    return bool(mounted_under(path_of(store, cid, "merged")))


def mount_rootfs(store: Store, cid: str) -> str:
    """Mount the container's union on merged/ (idempotent); "overlay" or "fuse".

    Raises MountError when neither driver can mount it (both reasons in the message).
    """
    target = path_of(store, cid, "merged")
    if is_mounted(store, cid):
        return "fuse" if _is_fuse(target) else "overlay"
    [m] = store.snapshots.mounts(cid)
    wanted = os.environ.get(ENV_DRIVER, "")
    kernel_error: MountError | None = None
    if wanted != "fuse":
        try:
            kernel.mount(m, target)
            return "overlay"
        except MountError as e:
            if wanted == "kernel" or e.errno not in (errno.EPERM, errno.EACCES, errno.ENODEV):
                raise
            kernel_error = e
    from layerfs.mounts import fuse

    fuse_mount = Mount("fuse.layerfs", "layerfs", m.options) if m.type == "overlay" else m
    try:
        fuse.mount(fuse_mount, target)
    except MountError as e:
        why = f"kernel overlay: {kernel_error}; " if kernel_error else ""
        raise MountError(f"cannot mount the root file system of {cid[:12]}: {why}FUSE: {e}") from e
    return "fuse"


def _is_fuse(target: str) -> bool:
    real = os.path.realpath(target)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split(" - ", 1)
            if len(fields) == 2 and fields[0].split()[4] == real:
                return fields[1].startswith("fuse")
    return False


def umount_rootfs(store: Store, cid: str) -> None:
    """Unmount merged/ and anything below it (lazily when busy); idempotent."""
    for target in sorted(mounted_under(path_of(store, cid, "merged")), reverse=True):
        try:
            kernel.umount(target)
        except MountError as e:
            if e.errno == errno.EBUSY:
                kernel.umount(target, lazy=True)
            elif e.errno not in (errno.EINVAL, errno.ENOENT):
                raise


def write_etc_files(store: Store, c: Container) -> None:
    """containers/<id>/{hosts,hostname,resolv.conf} as docker writes them (idempotent)."""
    host = c.short_id
    hosts = (
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
        f"ff02::2\tip6-allrouters\n127.0.1.1\t{host}\n"
    )
    resolv = ""
    if c.config.network == "host":
        try:
            with open("/etc/resolv.conf") as f:
                resolv = f.read()
        except OSError:
            resolv = ""
    for name, text in (("hosts", hosts), ("hostname", host + "\n"), ("resolv.conf", resolv)):
        path = path_of(store, c.id, name)
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(text)
