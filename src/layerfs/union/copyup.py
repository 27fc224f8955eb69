"""Copy-up: bring one lower object into the upperdir exactly as the kernel does.

Order (fs/overlayfs/copy_up.c, adapted to what userspace may do):

1. mark the upper parent ``overlay.impure=y`` (once);
2. create a temporary object in ``workdir/work`` (mode 0600/0700, so nobody else can use it);
3. regular files: data by reflink (FICLONE) if the file system can, else one
   ``copy_file_range`` per data extent found with SEEK_DATA/SEEK_HOLE (holes stay holes),
   then ``ftruncate`` to the size (a trailing hole); never a read/write loop in Python;
4. owner, then mode (chown after chmod would drop setuid), then the non-overlay xattrs
   (after chown and after the data: both would drop ``security.capability``), then
   ``overlay.origin`` (directories, and non-directories with st_nlink 1: a lower hard link
   is not given an origin, as with index=off), then atime/mtime to the nanosecond;
5. rename into place, and restore the parent's atime/mtime (as the kernel does).

Copied data is fsync'ed before the rename, as the kernel does (unless mounted
``volatile``), so a crash never leaves a short file in the upper layer.

On error the temporary object is removed and the upper layer is as before (except for
the impure marker, which the kernel also leaves).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import os
import shutil
import stat

from layerfs.union.origin import encode_origin
from layerfs.union.whiteouts import IMPURE, ORIGIN, WhiteoutFormat, copyable_xattr, overlay_xattr

FICLONE = 0x40049409
_CHUNK = 1 << 30
_counter = itertools.count(1)

# xattr errors that mean "this object or file system cannot carry it": skipped, like the
# kernel skips unknown xattrs the upper cannot store.
_XATTR_SKIP = (errno.EOPNOTSUPP, errno.ENOTSUP, errno.EPERM)


def temp_name(workdir: str) -> str:
    """A fresh name in ``workdir/work`` (the kernel uses ``#<hex>`` too)."""
    return os.path.join(workdir, "work", f"#lfs{os.getpid():x}.{next(_counter):x}")


def set_impure(upper_dir: str, fmt: WhiteoutFormat) -> None:
    """Mark an upper directory impure (idempotent; ignored where xattrs are refused)."""
    if overlay_xattr(upper_dir, IMPURE) is not None:
        return
    with contextlib.suppress(OSError):
        os.setxattr(upper_dir, fmt.prefix + IMPURE, b"y", follow_symlinks=False)


def copy_data(src_fd: int, dst_fd: int, size: int) -> None:
    """Copy `size` bytes between two fds: reflink, else extent by extent in the kernel."""
    if size == 0:
        return
    try:
        fcntl.ioctl(dst_fd, FICLONE, src_fd)
        return
    except OSError:
        pass
    pos = 0
    while pos < size:
        try:
            start = os.lseek(src_fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:  # only a hole is left
                break
            start = pos  # no SEEK_DATA here: treat everything as data
        try:
            end = min(os.lseek(src_fd, start, os.SEEK_HOLE), size)
        except OSError:
            end = size
        _copy_range(src_fd, dst_fd, start, end)
        pos = end
    os.ftruncate(dst_fd, size)


def _copy_range(src_fd: int, dst_fd: int, start: int, end: int) -> None:
    """Copy [start, end) at the same offsets, in the kernel (copy_file_range, else sendfile)."""
    off = start
    while off < end:
        count = min(end - off, _CHUNK)
        try:
            n = os.copy_file_range(src_fd, dst_fd, count, off, off)
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            os.lseek(dst_fd, off, os.SEEK_SET)
            n = os.sendfile(dst_fd, src_fd, off, count)
        if n == 0:  # the source shrank under us
            break
        off += n


def copy_xattrs(src: str, dst: str) -> None:
    """Copy every xattr of `src` the merged view shows (overlay-private ones excluded)."""
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError as e:
        if e.errno in _XATTR_SKIP:
            return
        raise
    for name in names:
        if not copyable_xattr(name):
            continue
        try:
            value = os.getxattr(src, name, follow_symlinks=False)
        except OSError as e:
            if e.errno == errno.ENODATA:
                continue
            raise
        try:
            os.setxattr(dst, name, value, follow_symlinks=False)
        except OSError as e:
            must = name.startswith(("security.", "system.posix_acl"))
            if e.errno not in _XATTR_SKIP or (must and e.errno != errno.EPERM):
                raise


def _create_temp(src: str, st: os.stat_result, tmp: str, data_src: str, size: int) -> None:
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        os.mkdir(tmp, 0o700)
    elif stat.S_ISREG(mode):
        dst_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            if size:
                src_fd = os.open(data_src, os.O_RDONLY | os.O_NOFOLLOW)
                try:
                    copy_data(src_fd, dst_fd, size)
                finally:
                    os.close(src_fd)
                os.fsync(dst_fd)  # the kernel syncs copied data before the rename too
        finally:
            os.close(dst_fd)
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), tmp)
    else:
        os.mknod(tmp, stat.S_IFMT(mode) | 0o600, st.st_rdev)


def _set_owner(tmp: str, st: os.stat_result) -> None:
    try:
        os.chown(tmp, st.st_uid, st.st_gid, follow_symlinks=False)
    except PermissionError:
        if os.geteuid() == 0:
            raise
        # An ordinary user cannot give files away; the copy keeps the caller's ids.


def copy_up_object(
    src: str,
    st: os.stat_result,
    dest_dir: str,
    name: str,
    workdir: str,
    fmt: WhiteoutFormat,
    *,
    data_src: str | None = None,
    with_data: bool = True,
) -> str:
    """Copy the lower object `src` (lstat `st`) to ``dest_dir/name``; returns that path.

    `data_src` is where a regular file's bytes are read (default `src`); `with_data=False`
    copies an empty file (open with O_TRUNC). `dest_dir` must be an upper directory and
    ``dest_dir/name`` must not exist.
    """
    set_impure(dest_dir, fmt)
    pst = os.lstat(dest_dir)
    tmp = temp_name(workdir)
    dest = os.path.join(dest_dir, name)
    size = st.st_size if with_data and stat.S_ISREG(st.st_mode) else 0
    _create_temp(src, st, tmp, data_src or src, size)
    try:
        _set_owner(tmp, st)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
        copy_xattrs(src, tmp)
        if stat.S_ISDIR(st.st_mode) or st.st_nlink == 1:
            _set_origin(tmp, src, st, fmt)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        os.rename(tmp, dest)
    except BaseException:
        _remove(tmp)
        raise
    with contextlib.suppress(OSError):
        os.utime(dest_dir, ns=(pst.st_atime_ns, pst.st_mtime_ns), follow_symlinks=False)
    return dest


def _set_origin(tmp: str, src: str, st: os.stat_result, fmt: WhiteoutFormat) -> None:
    """Write ``overlay.origin``; like the kernel, skip it where the upper refuses xattrs."""
    try:
        os.setxattr(tmp, fmt.prefix + ORIGIN, encode_origin(src, st), follow_symlinks=False)
    except OSError as e:
        if e.errno not in _XATTR_SKIP:
            raise


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
