"""Flatten a stack of layer dirs into one plain tree (for `export` of an image).

Layers are applied base first: whiteouts delete, opaque directories drop what the layers
below put there, other entries replace. Files are hard-linked from the layer dirs (no
data is copied; a copy is made only where a link is refused), so the tree must live on
the store's file system and must be treated as read-only. The result carries no overlay
markers: it is what a merged mount of the stack shows.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat

from layerfs.store.durable import remove_tree
from layerfs.union.whiteouts import EntryKind, copyable_xattr, scan_dir


def flatten(layers_base_first: list[str], dest: str) -> None:
    """Merge `layers_base_first` (real layer dirs) into the existing empty dir `dest`.

    Directory owners, modes, xattrs and times are those of the topmost layer that has
    the directory (as a merged mount shows them); they are applied at the end, deepest
    first, so that a read-only directory of a lower layer does not stop the merge.
    """
    dirs: dict[str, str] = {}
    for layer in layers_base_first:
        _merge_dir(layer, dest, dirs, is_root=True)
    for path in sorted(dirs, key=lambda p: p.count("/"), reverse=True):
        if os.path.isdir(path):
            _copy_meta(dirs[path], path)


def _clear(dest: str) -> None:
    for name in os.listdir(dest):
        remove_tree(os.path.join(dest, name))


def _merge_dir(src: str, dest: str, dirs: dict[str, str], *, is_root: bool = False) -> None:
    layer = scan_dir(src)
    if layer.opaque and not is_root:
        _clear(dest)
    for name in layer.whiteouts:
        remove_tree(os.path.join(dest, name))
    for name, kind in sorted(layer.entries.items()):
        s, d = os.path.join(src, name), os.path.join(dest, name)
        if kind is EntryKind.DIR:
            if not (os.path.isdir(d) and not os.path.islink(d)):
                remove_tree(d)
                os.mkdir(d, 0o700)
            _merge_dir(s, d, dirs)
        else:
            remove_tree(d)
            _link_or_copy(s, d)
    dirs[dest] = src


def _link_or_copy(src: str, dest: str) -> None:
    try:
        os.link(src, dest, follow_symlinks=False)
        return
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.EACCES):
            raise
    st = os.lstat(src)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dest)
    elif stat.S_ISREG(st.st_mode):
        shutil.copyfile(src, dest)
    else:
        os.mknod(dest, st.st_mode, st.st_rdev)
    _copy_meta(src, dest)


def _copy_meta(src: str, dest: str) -> None:
    """Owner, mode, xattrs (overlay-private ones dropped) and times of `src` onto `dest`."""
    st = os.lstat(src)
    if os.geteuid() == 0:
        os.chown(dest, st.st_uid, st.st_gid, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dest, stat.S_IMODE(st.st_mode))
    with contextlib.suppress(OSError):
        for name in os.listxattr(src, follow_symlinks=False):
            if copyable_xattr(name):
                value = os.getxattr(src, name, follow_symlinks=False)
                os.setxattr(dest, name, value, follow_symlinks=False)
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
