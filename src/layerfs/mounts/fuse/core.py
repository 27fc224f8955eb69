"""The state one mount's handlers share: the union, the inode table, open handles, lock.

Handlers (the ``ops_*`` modules) are functions ``(fs, req, body) -> reply`` that take
`Filesystem.lock` around everything touching the union or the inode table; data transfer
on an already open fd runs outside it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from layerfs.errors import oserror
from layerfs.mounts.fuse import attrs, fastpath
from layerfs.mounts.fuse import protocol as p
from layerfs.mounts.fuse.handles import Handles
from layerfs.mounts.fuse.inodes import Inode, InodeTable

if TYPE_CHECKING:
    from layerfs.union import UnionView

NAME_MAX = 255


@dataclass(frozen=True, slots=True)
class Request:
    """The header fields of one request that handlers use."""

    opcode: int
    unique: int
    nodeid: int
    uid: int
    gid: int
    pid: int


class Filesystem:
    """One mounted union: what every handler works on."""

    def __init__(self, view: UnionView, *, readonly: bool) -> None:
        self.view = view
        self.readonly = readonly
        self.lock = threading.RLock()
        self.inodes = InodeTable(view.lstat("/"))
        self.inodes.get(1).upper = not readonly and view.lookup("/").layer == 0
        self.handles = Handles()
        self.whiteouts = fastpath.SharedWhiteout(view.workdir, view.whiteouts)
        #: set by the session: the device fd (for passthrough ioctls), passthrough granted.
        self.dev_fd = -1
        self.passthrough = False
        #: as root, new objects are given to the caller (uid/gid of the request).
        self.chown_new = os.geteuid() == 0

    # ------------------------------------------------------------------ names and paths

    def node(self, nodeid: int) -> Inode:
        return self.inodes.get(nodeid)

    def path(self, nodeid: int) -> str:
        return self.inodes.path(self.inodes.get(nodeid))

    def child_path(self, parent: int, name: bytes) -> tuple[Inode, str, str]:
        """(parent node, decoded name, union path) for a name in a request; checks length."""
        if len(name) > NAME_MAX:
            raise oserror(errno.ENAMETOOLONG)
        node = self.inodes.get(parent)
        text = os.fsdecode(name)
        return node, text, self.inodes.child_path(node, text)

    def upper_dir(self, node: Inode) -> str | None:
        """The real upper directory of a directory node known to be in the upper dir
        (the upper layer holds every directory at its union path), else None."""
        upper = self.view.upperdir
        if upper is None or self.readonly or not node.upper or not node.is_dir:
            return None
        path = self.inodes.path(node)
        return upper if path == "/" else upper + path

    # ------------------------------------------------------------------ replies

    def entry(self, parent: Inode, name: str, path: str) -> bytes:
        """Look `path` up, remember it under (parent, name), pack the entry reply."""
        quick = fastpath.child(parent, name)
        if quick is not None:
            st, real = quick
            node = self.inodes.remember(parent.nodeid, name, st, False)
            fastpath.remember(node, (real,), -1, real)
            return attrs.entry_out(node.nodeid, attrs.pack_attr(st, node.ino))
        found = self.view.lookup(path)
        node = self.inodes.remember(parent.nodeid, name, found.st, found.layer == 0)
        fastpath.remember(node, found.sources, found.layer, found.realpath)
        return attrs.entry_out(node.nodeid, attrs.pack_attr(found.st, node.ino))

    def stat_node(self, node: Inode) -> tuple[os.stat_result, int | None]:
        """(real stat, nlink override) of a node; detached nodes stat an open fd."""
        if not node.names and node.nodeid != 1:
            if not node.open_fds:
                raise oserror(errno.ENOENT)
            st = os.fstat(node.open_fds[0])
            return st, (st.st_nlink if node.upper and st.st_nlink > 0 else 0)
        if node.upper and node.open_fds and not node.is_dir:
            # An upper file stays the same real file while named: an open fd on it
            # answers without resolving the path through the layers.
            st = os.fstat(node.open_fds[-1])
            if (st.st_dev, st.st_ino) == node.real:
                return st, None
        st = fastpath.lstat(node)
        if st is not None:
            return st, None
        found = self.view.lookup(self.inodes.path(node))
        self.inodes.observe(node, found.st, found.layer == 0)
        fastpath.remember(node, found.sources, found.layer, found.realpath)
        return found.st, None

    # ------------------------------------------------------------------ after changes

    def invalidate_attrs(self, node: Inode) -> None:
        """Make the kernel drop its cached attributes of `node` (page cache kept).

        For a copy-up done by a request whose reply carries no attributes (OPEN): the
        copy may differ in nlink (a lower hard link) and ctime. Safe inside a handler:
        with a negative offset the kernel touches no page, so takes no lock we hold.
        """
        if self.dev_fd < 0:
            return
        size = p.OUT_HEADER.size + p.NOTIFY_INVAL_INODE.size
        msg = p.OUT_HEADER.pack(size, p.NOTIFY_CODE_INVAL_INODE, 0)
        with contextlib.suppress(OSError):  # ENOENT: the kernel holds no such inode
            os.write(self.dev_fd, msg + p.NOTIFY_INVAL_INODE.pack(node.nodeid, -1, 0))

    def created(self, parent: Inode, name: str, path: str, req: Request,
                fd: int | None = None) -> bytes:
        """After creating `path`: give it to the caller, index it, refresh the parents.

        `fd`, an fd open on the new (upper) file, saves resolving the path again.
        """
        if self.chown_new and (req.uid, req.gid) != (0, 0):
            gid = req.gid
            if self.view.lstat(self.inodes.path(parent)).st_mode & stat.S_ISGID:
                gid = -1
            if fd is None:
                self.view.chown(path, req.uid, gid)
            else:
                os.fchown(fd, req.uid, gid)
        if parent.index is not None:
            parent.index.add(name)
        self.parents_changed(parent)
        if fd is None:
            reply = self.entry(parent, name, path)
        else:
            st = os.fstat(fd)
            node = self.inodes.remember(parent.nodeid, name, st, True)
            reply = attrs.entry_out(node.nodeid, attrs.pack_attr(st, node.ino))
        new = self.inodes.child(parent.nodeid, name)
        if new is not None:
            new.nocaps = True  # a new object carries no file capabilities
        return reply

    def removed(self, parent: Inode, name: str) -> None:
        """After removing `name` from `parent`: detach its node, update the index."""
        self.inodes.detach((parent.nodeid, name))
        if parent.index is not None:
            parent.index.discard(name)
        self.parents_changed(parent)

    def parents_changed(self, node: Inode) -> None:
        """Notice copy-up of `node` and its ancestors (they keep their inode numbers)."""
        while not node.upper:
            if not node.names and node.nodeid != 1:
                return
            found = self.view.lookup(self.inodes.path(node))
            self.inodes.observe(node, found.st, found.layer == 0)
            if not node.upper or node.nodeid == 1:
                return
            node = self.inodes.get(node.names[0][0])
