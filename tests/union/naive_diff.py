"""A literal port of moby's `archive.ChangesDirs` (the naive double-tree walk).

It is the reference `changes(rules="docker")` is checked against: applied to two kernel
overlay mounts (the union with and without its upper layer), it gives what `docker diff`
prints for overlay2.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from layerfs.union.changes import Change, same_fs_time


@dataclass
class Info:
    path: str
    st: os.stat_result | None
    cap: bytes | None = None
    children: dict[str, Info] = field(default_factory=dict)
    added: bool = False

    def is_dir(self) -> bool:
        return self.st is None or stat.S_ISDIR(self.st.st_mode)


def collect(root: str) -> Info:
    top = Info("/", None)

    def walk(real: str, info: Info) -> None:
        for name in sorted(os.listdir(real)):
            full = os.path.join(real, name)
            st = os.lstat(full)
            try:
                cap = os.getxattr(full, "security.capability", follow_symlinks=False)
            except OSError:
                cap = None
            child = Info(os.path.join(info.path, name), st, cap)
            info.children[name] = child
            if stat.S_ISDIR(st.st_mode):
                walk(full, child)

    walk(root, top)
    return top


def _stat_different(old: os.stat_result, new: os.stat_result) -> bool:
    if (old.st_mode, old.st_uid, old.st_gid, old.st_rdev) != (
        new.st_mode, new.st_uid, new.st_gid, new.st_rdev,
    ):
        return True
    return not stat.S_ISDIR(old.st_mode) and (
        not same_fs_time(old.st_mtime_ns, new.st_mtime_ns) or old.st_size != new.st_size
    )


def add_changes(info: Info, old: Info | None, out: list[Change]) -> None:
    at = len(out)
    if old is None:
        out.append(Change("A", info.path))
        info.added = True
    old_children = dict(old.children) if old is not None and info.is_dir() else {}
    for name, child in info.children.items():
        old_child = old_children.pop(name, None)
        if old_child is not None:
            assert old_child.st is not None and child.st is not None
            if _stat_different(old_child.st, child.st) or old_child.cap != child.cap:
                out.append(Change("C", child.path))
                child.added = True
        add_changes(child, old_child, out)
    for old_child in old_children.values():
        out.append(Change("D", old_child.path))
    if len(out) > at and info.is_dir() and not info.added and info.path != "/":
        out.insert(at, Change("C", info.path))


def changes_dirs(new_dir: str, old_dir: str) -> list[Change]:
    """`ChangesDirs(newDir, oldDir)`, sorted by path."""
    out: list[Change] = []
    new, old = collect(new_dir), collect(old_dir)
    new.added = True  # the root is never reported
    add_changes(new, old, out)
    return sorted(out, key=lambda c: os.fsencode(c.path))
