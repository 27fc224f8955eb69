"""The FUSE front end: a `UnionView` served over /dev/fuse, for root and ordinary users.

`mount(m, target)` mounts a ``Mount("fuse.layerfs", source, options)`` whose options are
the overlay ones (``lowerdir=A:B``, ``upperdir=U``, ``workdir=W``, ``redirect_dir=...``,
``ro``) plus ``allow_other``, ``threads=N`` and ``passthrough=on|off``; `umount(target)`
clears it, also when its daemon died (ENOTCONN).

The server speaks the kernel protocol directly (`protocol`, `session`): no libfuse.
Root mounts with mount(2) and, for reads and writes of regular files, the kernel's FUSE
passthrough; other users mount through fusermount3 and write ``user.overlay.*`` markers
(XATTR or OCI whiteouts where device whiteouts or xattrs are refused). Directory renames
use redirects unless ``redirect_dir=off``.

Where it differs from the kernel overlay, on purpose:

- with passthrough (root), a file opened read-only before another open copied it up
  keeps reading the lower data (without passthrough it follows the copy-up, as the
  kernel does): the kernel cannot switch the backing file of an open FUSE file;
- inode numbers are those of the real objects first shown, kept through copy-up for
  the life of the mount; after a remount a copied-up file shows its upper inode number
  (the kernel reads the lower one back from ``trusted.overlay.origin``);
- RENAME_EXCHANGE and RENAME_WHITEOUT are refused with EINVAL; POSIX ACLs are not
  enforced (the kernel checks mode bits: ``default_permissions``).
"""

from __future__ import annotations

import errno

from layerfs.errors import MountError
from layerfs.mounts import kernel
from layerfs.mounts.mount import Mount


def mount(m: Mount, target: str, *, foreground: bool = False) -> None:
    """Mount `m` on `target` through FUSE.

    Background (default): returns once the mount answers requests; a daemon process
    serves it until it is unmounted or receives SIGTERM/SIGINT. Foreground: serves in
    this process and returns after the mount is gone. Raises `InvalidOption` for bad
    options or layers and `MountError` if the kernel or fusermount3 refuses; nothing
    stays mounted after an error.
    """
    from layerfs.mounts.fuse import daemon

    if foreground:
        daemon.serve(m, target)
    else:
        daemon.start_background(m, target)


def umount(target: str, *, lazy: bool = False) -> None:
    """Unmount a FUSE mount, including one whose daemon is gone (ENOTCONN).

    A busy mount is detached lazily (its daemon, if alive, serves the open files until
    they are closed) unless that is impossible; `MountError` when nothing is mounted
    there or the caller may not unmount it.
    """
    try:
        kernel.umount(target, lazy=lazy)
    except MountError as e:
        if e.errno != errno.EBUSY or lazy:
            raise
        kernel.umount(target, lazy=True)


__all__ = ["mount", "umount"]
