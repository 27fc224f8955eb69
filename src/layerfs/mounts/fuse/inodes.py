"""The inode table: kernel node ids ↔ names in the union, and stable inode numbers.

A node id names one kernel inode for as long as the kernel holds a lookup count on it
(LOOKUP and every other entry reply add one, FORGET takes them back). Node ids are never
reused. A node is known by one or more names ``(parent node id, name)``: several only for
hard links inside the upper dir, which share one node (as the kernel overlay shares one
inode), so that their page cache and passthrough backing file are one. A node whose last
name was removed is *detached*: it lives on, for the open files on it, until forgotten.

Inode numbers: a node reports the real inode number of the object it first showed, for the
life of the mount, also after copy-up moved it to a new real inode (`alias`).

The table is not thread-safe: the server calls it under its lock.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat

from layerfs.errors import oserror
from layerfs.mounts.fuse import protocol as p

Key = tuple[int, str]


class Inode:
    """Mutable state of one kernel inode (not a value: the server updates it in place)."""

    __slots__ = (
        "backing",
        "index",
        "ino",
        "is_dir",
        "names",
        "nlookup",
        "nocaps",
        "nodeid",
        "open_fds",
        "real",
        "realpath",
        "source",
        "upper",
    )

    def __init__(self, nodeid: int, ino: int, is_dir: bool, real: tuple[int, int]) -> None:
        self.nodeid = nodeid
        self.ino = ino
        self.is_dir = is_dir
        self.names: list[Key] = []
        self.nlookup = 0
        self.real = real
        #: True once the top object is known to live in the upper dir.
        self.upper = False
        #: fds of open files on this node (for fstat after unlink); managed by handles.
        self.open_fds: list[int] = []
        #: (backing id, refcount, real (dev, ino)) of the passthrough backing file.
        self.backing: tuple[int, int, tuple[int, int]] | None = None
        #: for directories: names present in the merged dir, once a miss was looked up.
        self.index: set[str] | None = None
        #: True once security.capability was found absent (the kernel asks before every
        #: write); xattr changes go through the server, which clears it.
        self.nocaps = False
        #: remembered real paths (see `fastpath`): the object, or a one-layer directory.
        self.realpath: str | None = None
        self.source: str | None = None


class InodeTable:
    """Node ids, names and inode numbers of one mount."""

    def __init__(self, root_st: os.stat_result) -> None:
        root = Inode(p.ROOT_ID, root_st.st_ino, True, (root_st.st_dev, root_st.st_ino))
        root.nlookup = 1
        self._nodes: dict[int, Inode] = {p.ROOT_ID: root}
        self._by_key: dict[Key, int] = {}
        self._by_real: dict[tuple[int, int], int] = {}  # upper hard links only
        self._alias: dict[tuple[int, int], int] = {}
        self._ids = itertools.count(p.ROOT_ID + 1)

    def __len__(self) -> int:
        return len(self._nodes)

    def reported_ino(self, real: tuple[int, int]) -> int:
        """The inode number shown for the real object (dev, ino) when no node has it."""
        return self._alias.get(real, real[1])

    def get(self, nodeid: int) -> Inode:
        """The node; ESTALE for an id the kernel should not be using any more."""
        try:
            return self._nodes[nodeid]
        except KeyError:
            raise oserror(errno.ESTALE) from None

    def path(self, inode: Inode) -> str:
        """The union path of the node's first name; ENOENT if it is detached."""
        parts: list[str] = []
        node = inode
        while node.nodeid != p.ROOT_ID:
            if not node.names:
                raise oserror(errno.ENOENT)
            parent, name = node.names[0]
            parts.append(name)
            node = self._nodes[parent]
        return "/" + "/".join(reversed(parts))

    def child_path(self, parent: Inode, name: str) -> str:
        """The union path of `name` inside the directory node `parent`."""
        base = self.path(parent)
        return base + name if base == "/" else f"{base}/{name}"

    def child(self, parent: int, name: str) -> Inode | None:
        """The node currently known under `name` in `parent`, if any."""
        nodeid = self._by_key.get((parent, name))
        return None if nodeid is None else self._nodes[nodeid]

    def remember(self, parent: int, name: str, st: os.stat_result, upper: bool) -> Inode:
        """The node for a name just looked up (or created); adds one lookup count.

        `st` is the real object's lstat, `upper` whether it lives in the upper dir.
        """
        real = (st.st_dev, st.st_ino)
        is_dir = stat.S_ISDIR(st.st_mode)
        key = (parent, name)
        node = self.child(parent, name)
        if node is not None and node.is_dir != is_dir:
            self.detach(key)
            node = None
        if node is None and upper and not is_dir and st.st_nlink > 1:
            linked = self._by_real.get(real)
            if linked is not None:
                node = self._nodes[linked]
                node.names.append(key)
                self._by_key[key] = linked
        if node is None:
            nodeid = next(self._ids)
            node = Inode(nodeid, self._alias.get(real, st.st_ino), is_dir, real)
            node.names.append(key)
            self._nodes[nodeid] = node
            self._by_key[key] = nodeid
        self.observe(node, st, upper)
        node.nlookup += 1
        return node

    def observe(self, node: Inode, st: os.stat_result, upper: bool) -> None:
        """Record the node's current real object (after copy-up: keep its inode number)."""
        real = (st.st_dev, st.st_ino)
        if upper and not node.upper:
            node.source = None  # a directory in the upper dir merges from now on
        if real != node.real:
            node.realpath = None
            self._alias.setdefault(real, node.ino)
            if self._by_real.get(node.real) == node.nodeid:
                del self._by_real[node.real]
            node.real = real
        node.upper = upper
        if upper and not node.is_dir and st.st_nlink > 1:
            self._by_real.setdefault(real, node.nodeid)

    def forget(self, nodeid: int, count: int) -> Inode | None:
        """Take back `count` lookups; a node nobody references any more is dropped (and
        returned, for the caller to release what it holds)."""
        node = self._nodes.get(nodeid)
        if node is None or nodeid == p.ROOT_ID:
            return None
        node.nlookup -= count
        if node.nlookup > 0:
            return None
        for key in node.names:
            if self._by_key.get(key) == nodeid:
                del self._by_key[key]
        if self._by_real.get(node.real) == nodeid:
            del self._by_real[node.real]
        del self._nodes[nodeid]
        return node

    def detach(self, key: Key) -> Inode | None:
        """Forget that `key` names anything (after unlink/rmdir, or replaced by rename)."""
        nodeid = self._by_key.pop(key, None)
        if nodeid is None:
            return None
        node = self._nodes[nodeid]
        if key in node.names:
            node.names.remove(key)
        if not node.names and self._by_real.get(node.real) == nodeid:
            del self._by_real[node.real]
        return node

    def move(self, old: Key, new: Key) -> None:
        """A rename: the node known as `old` is now known as `new` (which is replaced)."""
        self.detach(new)
        nodeid = self._by_key.pop(old, None)
        if nodeid is None:
            return
        node = self._nodes[nodeid]
        node.names = [new if k == old else k for k in node.names]
        self._by_key[new] = nodeid

    def add_name(self, node: Inode, key: Key) -> None:
        """A hard link made through the mount: `key` now names `node` too."""
        self.detach(key)
        node.names.append(key)
        self._by_key[key] = node.nodeid
