"""`changes`: the A/C/D list of `docker diff` for an upper layer over its lower layers.

What docker diff really does on overlay2
----------------------------------------
moby's overlay2 driver once computed changes by walking the upper dir
(`archive.OverlayChanges`: whiteout → D, opaque dir → D, present in a lower → C else A,
only the *immediate* parent of an A/D added as C, and a directory whose size/mode/mtime
equal the lower one's skipped). That marked opaque directories deleted and missed what an
opaque directory hides, so moby#37313 (2018) switched `Changes` to the naive diff, and
every docker since (20.10 here) answers `docker diff` with `archive.ChangesDirs(merged
container, merged parent)`: a walk of two whole trees. Its rules, which `changes()` follows
by default (``rules="docker"``):

- a name only in the new tree is A, and so is everything below it;
- a name only in the old tree is D, and nothing below it is listed;
- a name in both is C when mode, uid, gid or rdev differ, or, for a non-directory, size or
  mtime (to the second when either side has no nanoseconds), or ``security.capability``;
  a directory's own size and mtime never count;
- every directory with a change anywhere below it is listed as C (so all ancestors are);
- the root is never listed.

This module computes the same answer without mounting anything: the new tree is the union
of upperdir + lowerdirs and the old one the union of lowerdirs, both resolved with the
kernel's lookup rules (`layerstack`), and only where the two can differ (names in the
upper layer, and whole directories where an opaque or redirected upper directory changes
what lies below) is anything compared. A copied-up file whose data and metadata are
unchanged is therefore not listed, exactly as docker does.

``rules="podman"`` gives what podman/containers-storage print instead (its native
`OverlayChanges`, see `changes_native`). Docker's init layer explains the one difference
seen in practice (PEERS.md: docker omits ``C /etc``): docker diffs a container against its
``-init`` layer, which already holds the mount points /etc/hosts, /etc/hostname and
/etc/resolv.conf, while podman creates those mount points in the container's own upper
dir; podman then hides the files by name but still reports their parent ``/etc``, whose
mtime changed.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from layerfs.errors import InvalidOption
from layerfs.union.layerstack import (
    Layer,
    Probe,
    Step,
    children,
    lookup,
    make_layers,
    root_step,
)
from layerfs.union.whiteouts import scan_dir

ChangeKind = Literal["A", "C", "D"]
RULES = ("docker", "podman")


@dataclass(frozen=True)
class Change:
    """One line of `docker diff`: `kind` "A" (added), "C" (changed) or "D" (deleted)."""

    kind: ChangeKind
    path: str

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


def changes(
    upperdir: str,
    lowerdirs: Sequence[str],
    *,
    rules: str = "docker",
    redirect_follow: bool = True,
) -> list[Change]:
    """The changes `upperdir` makes over `lowerdirs` (top first), sorted by path (bytewise).

    `rules`: "docker" (default, see the module docstring) or "podman". Read-only; raises
    `InvalidOption` for an unknown rule set or a layer that is not a directory, `OSError`
    if a layer cannot be read.
    """
    if rules == "podman":
        from layerfs.union.changes_native import native_changes

        return sort_changes(native_changes(upperdir, lowerdirs))
    if rules != "docker":
        raise InvalidOption(f"unknown change rules {rules!r} (use one of {', '.join(RULES)})")
    differ = _Differ(
        make_layers(lowerdirs, upperdir), make_layers(lowerdirs, None), redirect_follow
    )
    new_root = root_step(differ.new_layers)
    old_root = root_step(differ.old_layers)
    differ.compare_dirs("/", new_root, old_root)
    return sort_changes(differ.out)


def sort_changes(items: Sequence[Change]) -> list[Change]:
    """Sorted by path, bytewise (as Go sorts strings)."""
    return sorted(items, key=lambda c: os.fsencode(c.path))


class _Differ:
    """The naive double-tree walk, pruned to where the two unions can differ."""

    def __init__(self, new: tuple[Layer, ...], old: tuple[Layer, ...], follow: bool) -> None:
        self.new_layers = new
        self.old_layers = old
        self.follow = follow
        self.out: list[Change] = []

    def compare_dirs(self, path: str, new: Step, old: Step | None) -> None:
        """Compare the children of directory `path` (new: a found dir; old: dir or None)."""
        for name in self._names(new, old):
            child = posixpath.join(path, name)
            new_child = lookup(new, name, self.new_layers, follow=self.follow)
            old_child = (
                lookup(old, name, self.old_layers, follow=self.follow) if old else None
            )
            self._compare(child, new_child, old_child)

    def _names(self, new: Step, old: Step | None) -> list[str]:
        if old is None:
            return children(new)
        lower_part = tuple(k for k in new.key() if k[0] != 0)
        upper = next((p for p in new.sources if p.layer.index == 0), None)
        if upper is not None and lower_part == old.key():
            layer_dir = scan_dir(upper.realpath)
            names = set(layer_dir.entries) | set(layer_dir.whiteouts)
            return sorted(names, key=os.fsencode)
        both = set(children(new)) | set(children(old))
        return sorted(both, key=os.fsencode)

    def _compare(self, path: str, new: Step, old: Step | None) -> None:
        new_found = new.found
        old_found = old is not None and old.found
        if not new_found:
            if old_found:
                self.out.append(Change("D", path))
            return
        if not old_found or old is None:
            self.out.append(Change("A", path))
            if new.is_dir:
                self._all_added(path, new)
            return
        if new.key() == old.key():
            return
        mark = len(self.out)
        reported = stat_different(old.sources[0], new.sources[0])
        if reported:
            self.out.append(Change("C", path))
        if new.is_dir:
            self.compare_dirs(path, new, old if old.is_dir else None)
            if len(self.out) > mark and not reported:
                self.out.insert(mark, Change("C", path))

    def _all_added(self, path: str, new: Step) -> None:
        for name in children(new):
            step = lookup(new, name, self.new_layers, follow=self.follow)
            if step.found:
                child = posixpath.join(path, name)
                self.out.append(Change("A", child))
                if step.is_dir:
                    self._all_added(child, step)


def stat_different(old: Probe, new: Probe) -> bool:
    """moby's `statDifferent` plus its capability check, on two real objects."""
    a, b = old.entry.st, new.entry.st
    if a is None or b is None:
        return a is not b
    if (a.st_mode, a.st_uid, a.st_gid, a.st_rdev) != (b.st_mode, b.st_uid, b.st_gid, b.st_rdev):
        return True
    if not stat.S_ISDIR(a.st_mode) and (
        not same_fs_time(a.st_mtime_ns, b.st_mtime_ns) or a.st_size != b.st_size
    ):
        return True
    return _capability(old.realpath) != _capability(new.realpath)


def same_fs_time(a_ns: int, b_ns: int) -> bool:
    """moby's `sameFsTimeSpec`: equal, or same second with either side at 0 ns."""
    a_sec, a_nsec = divmod(a_ns, 1_000_000_000)
    b_sec, b_nsec = divmod(b_ns, 1_000_000_000)
    return a_sec == b_sec and (a_nsec == b_nsec or a_nsec == 0 or b_nsec == 0)


def _capability(path: str) -> bytes | None:
    try:
        return os.getxattr(path, "security.capability", follow_symlinks=False)
    except OSError:
        return None
