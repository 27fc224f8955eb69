"""Answers from remembered real paths, so that hot requests skip resolving a union path
through every layer (the engine walks from the root on each call).

Every answer is checked against what the server already knows, and `None` sends the
caller back to the engine:

- a non-directory node remembers the real object it last resolved to (`Inode.realpath`);
  GETATTR and OPEN use that path only while its (st_dev, st_ino) is still the node's
  `real` object, which the server updates after every copy-up it performs. A stale path
  (an ancestor renamed, the file copied up) fails that check.
- a directory that exists in exactly one lower layer and not in the upper dir
  (`Inode.source`) has no other layer to merge: a name in it is what that one real
  directory holds (whiteout forms included), unless it is a directory carrying a
  redirect. Any change in the directory copies it up first, which ends the shortcut.
- a new regular file in a directory that already lives in the upper dir is created
  there directly (`create`) when the directory's name index says the name is absent
  from the union and nothing occupies it in the upper dir (no whiteout in any form):
  exactly what the engine would do, without resolving the path through the layers.
- unlinking a non-directory whose top object is in a lower layer, from a directory
  already in the upper dir, only writes a whiteout there (`unlink_lower`).

None of these changes a directory, so the engine's cache of resolved directories stays
true (they bypass the view, which would drop that cache on every write).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from layerfs.errors import oserror
from layerfs.mounts.fuse.inodes import Inode
from layerfs.union.whiteouts import (
    OCI_PREFIX,
    EntryKind,
    WhiteoutFormat,
    classify,
    is_internal_name,
    make_whiteout,
    redirect_of,
)

_WRITE = os.O_WRONLY | os.O_RDWR | os.O_TRUNC
_CREATE = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW


def remember(node: Inode, sources: tuple[str, ...], layer: int, realpath: str) -> None:
    """Record what the engine just said about `node` (its sources, top first)."""
    single = len(sources) == 1
    if node.is_dir:
        node.source = sources[0] if single and layer != 0 else None
        node.realpath = None
    else:
        node.source = None
        node.realpath = realpath if single else None


def child(parent: Inode, name: str) -> tuple[os.stat_result, str] | None:
    """(lstat, real path) of `name` in a one-layer lower directory; ENOENT if absent."""
    src = parent.source
    if src is None or parent.upper:
        return None
    if is_internal_name(name):
        raise oserror(errno.ENOENT)
    entry = classify(src, name)
    if entry.kind in (EntryKind.ABSENT, EntryKind.WHITEOUT) or entry.st is None:
        raise oserror(errno.ENOENT)
    real = os.path.join(src, name)
    if entry.kind is EntryKind.DIR and redirect_of(real) is not None:
        return None
    return entry.st, real


def lstat(node: Inode) -> os.stat_result | None:
    """The node's real lstat, if its remembered path still leads to its object."""
    if node.realpath is None or node.is_dir:
        return None
    try:
        st = os.lstat(node.realpath)
    except OSError:
        return None
    return st if (st.st_dev, st.st_ino) == node.real else None


def open_(node: Inode, flags: int) -> int | None:
    """An fd on the node's real file for `flags`, when no copy-up can be needed."""
    if node.realpath is None or node.is_dir or (flags & _WRITE and not node.upper):
        return None
    try:
        fd = os.open(node.realpath, flags | os.O_NOFOLLOW)
    except OSError:
        return None
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != node.real or not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    return fd


def create(parent: Inode, upper_dir: str | None, name: str, flags: int, mode: int) -> int | None:
    """An fd on `name`, a new regular file made directly in `upper_dir` (the real upper
    directory of `parent`, None when unknown), or None: ask the engine.

    Only when the engine would do nothing else: `parent` is in the upper dir, its name
    index lists every name of the merged directory and `name` is not among them, no OCI
    whiteout ``.wh.NAME`` is there, and O_EXCL finds the name free (a device or xattr
    whiteout occupies it). Any failure, which has changed nothing, also answers None.
    """
    if upper_dir is None or not parent.upper or parent.index is None or name in parent.index \
            or is_internal_name(name):
        return None
    try:
        os.lstat(f"{upper_dir}/{OCI_PREFIX}{name}")
        return None
    except FileNotFoundError:
        pass
    except OSError:
        return None
    try:
        return os.open(f"{upper_dir}/{name}", flags | _CREATE, mode)
    except OSError:
        return None


class SharedWhiteout:
    """Device whiteouts made as hard links of one whiteout inode kept in ``workdir/work``,
    as the kernel has done since 5.8: a link costs a fraction of a new inode. Other
    formats, or a failed link (EMLINK...), fall back to `make_whiteout`. Not thread-safe:
    used under the server's lock."""

    def __init__(self, workdir: str | None, fmt: WhiteoutFormat) -> None:
        self.fmt = fmt
        device = fmt in (WhiteoutFormat.KERNEL, WhiteoutFormat.USERXATTR)
        self.proto = os.path.join(workdir, "work", f"#lfs-whiteout.{os.getpid():x}") \
            if workdir is not None and device else None
        self._made = False

    def make(self, parent: str, name: str) -> None:
        """A whiteout for `name` in the real directory `parent` (nothing is there)."""
        if self.proto is not None:
            try:
                if not self._made:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.proto)
                    os.mknod(self.proto, stat.S_IFCHR | 0o000, os.makedev(0, 0))
                    self._made = True
                os.link(self.proto, f"{parent}/{name}")
                return
            except OSError:
                self.close()  # EMLINK: a new inode next time
        make_whiteout(parent, name, self.fmt)

    def close(self) -> None:
        """Remove the shared inode from the work dir (the whiteouts keep it)."""
        if self._made and self.proto is not None:
            self._made = False
            with contextlib.suppress(OSError):
                os.unlink(self.proto)


def unlink_lower(node: Inode | None, upper_dir: str | None, name: str,
                 whiteouts: SharedWhiteout) -> bool:
    """Remove `name` by writing its whiteout in `upper_dir` (the real upper directory of
    its parent, None when unknown); False (nothing done): ask the engine.

    Only for a known non-directory `node` whose top object is in a lower layer (so a
    lower layer has the name and the upper dir holds nothing at it, which is checked).
    """
    if upper_dir is None or node is None or node.is_dir or node.upper \
            or is_internal_name(name):
        return False
    try:
        os.lstat(f"{upper_dir}/{name}")
        return False
    except FileNotFoundError:
        pass
    except OSError:
        return False
    whiteouts.make(upper_dir, name)
    return True
