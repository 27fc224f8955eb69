"""The state a `UnionView` operation works with, and path resolution for writers.

`Engine` is the immutable description of one union (its layers, upper/work dirs, the
whiteout format written, redirect_dir). Reading goes through `layerstack` (the kernel's
lookup, shared with `trace` and `changes`); this module adds what writers need on top:
union path validation (EINVAL, ENAMETOOLONG), splitting a path into its parent directory
and final name, following a final symlink inside the union, and "is this name positive in
a lower layer" (the kernel's ``ovl_lower_positive``).

Resolved parent directories are cached (`DirCache`) until the next write through the
view; the final component of a path is always looked up afresh in the upper layer. What
the lower layers hold is remembered for the life of the engine (`LowerCache`: they never
change under a union), so neither cost grows with the number of lower layers.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from layerfs.errors import oserror
from layerfs.union import layerstack
from layerfs.union.layerstack import Layer, Probe, Resolution, Step
from layerfs.union.longpath import shorten
from layerfs.union.lowercache import LowerCache
from layerfs.union.whiteouts import EntryKind, WhiteoutFormat

NAME_MAX = 255
PATH_MAX = 4096
MAX_SYMLINKS = 40


class DirCache:
    """Resolved parent directories, valid until a write changes a directory.

    Lower layers do not change under a union (the kernel calls that undefined); the upper
    layer changes only through this view. A change that may alter what a cached
    resolution found (a directory copied up, removed, renamed or given new attributes, a
    symlink removed) clears the cache when it starts and when it ends, and a resolution
    that overlapped it is not stored (the generation it started in is gone). Creating
    names and removing files in directories already in the upper layer change none of
    them, so the cache survives those. Only parents are cached: the final name of every
    path is always looked up afresh.
    """

    LIMIT = 4096

    def __init__(self) -> None:
        self._entries: dict[str, Resolution] = {}
        self._gen = 0
        self._writers = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Resolution | None:
        return self._entries.get(key)

    def token(self) -> int:
        """The generation a resolution starts in (give it back to `put`)."""
        return self._gen

    def put(self, key: str, res: Resolution, token: int) -> None:
        with self._lock:
            if token != self._gen or self._writers:
                return
            if len(self._entries) >= self.LIMIT:
                self._entries.clear()
            self._entries[key] = res

    @contextlib.contextmanager
    def writing(self, *, keeps_dirs: bool = False) -> Iterator[None]:
        """Bracket a write: nothing resolved before or during it is used afterwards.

        `keeps_dirs`: the write itself changes no directory a cached resolution goes
        through (it creates names, or removes non-directories, or writes file data); the
        parts of it that do (the copy-up of a directory, the removal of a symlink) bracket
        themselves with `changing`, and the cache survives the rest.
        """
        if keeps_dirs:
            yield
            return
        with self.changing():
            yield

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """Bracket a change of directories: the cache is cleared before and after it."""
        self._bump(+1)
        try:
            yield
        finally:
            self._bump(-1)

    def _bump(self, writers: int) -> None:
        with self._lock:
            self._gen += 1
            self._writers += writers
            self._entries.clear()


def check_path(path: str) -> None:
    """EINVAL for a NUL, ENAMETOOLONG for a component over 255 bytes or a path over 4095."""
    if "\0" in path:
        raise oserror(errno.EINVAL, path.replace("\0", "\\0"))
    if path.isascii() and len(path) <= NAME_MAX:  # the usual case: one byte a character
        return
    raw = os.fsencode(path)
    if len(raw) >= PATH_MAX:
        raise oserror(errno.ENAMETOOLONG, path[:64] + "...")
    if len(raw) > NAME_MAX and any(len(c) > NAME_MAX for c in raw.split(b"/")):
        raise oserror(errno.ENAMETOOLONG, path)


def split_parent(path: str) -> tuple[str, str]:
    """``("/a/b", "c")`` for "/a/b/c"; the name is "" for the root."""
    if path[:1] == "/" and path[-1:] != "/" and "//" not in path and "/./" not in path:
        head, _, name = path.rpartition("/")
        if name not in (".", ".."):
            return head or "/", name
    parts = [c for c in path.split("/") if c and c != "."]
    if path.rstrip("/").endswith("/.") or path == ".":
        parts.append(".")
    if not parts:
        return "/", ""
    return "/" + "/".join(parts[:-1]), parts[-1]


def is_upper(probe: Probe) -> bool:
    return probe.layer.index == 0


@dataclass(frozen=True)
class Engine:
    """One union: `layers` top first (index 0 = upperdir when there is one)."""

    layers: tuple[Layer, ...]
    upperdir: str | None
    workdir: str | None
    fmt: WhiteoutFormat
    redirect_dir: bool
    cache: DirCache = field(default_factory=lambda: DirCache(), compare=False, repr=False)
    lowers: LowerCache = field(default_factory=lambda: LowerCache(), compare=False, repr=False)

    # ------------------------------------------------------------------ resolution

    def resolve(self, path: str) -> Resolution:
        """`layerstack.resolve` after validating `path`; errors of the walk raised."""
        check_path(path)
        res = layerstack.resolve(self.layers, path, cache=self.lowers)
        if res.error is not None:
            raise oserror(res.error, path)
        return res

    def _walk(self, path: str, hops: list[int]) -> Resolution:
        """Resolve `path`: its parent directory from the cache, the final name fresh.

        `hops` counts the symlinks followed so far for the whole path (ELOOP after 40).
        """
        check_path(path)
        parent_path, name = split_parent(path)
        if name in ("", ".", ".."):
            return self.resolve(path)
        parent = self.cache.get(parent_path)
        if parent is None:
            token = self.cache.token()
            parent = self.find_dir(parent_path, _hops=hops)
            self.cache.put(parent_path, parent, token)
        step = self.child(parent, name)
        if step.errno is not None:
            raise oserror(step.errno, path)
        where = parent.path + "/" + name if parent.path != "/" else "/" + name
        return Resolution(where, (*parent.steps, step))

    def find(
        self, path: str, *, follow: bool = False, _hops: list[int] | None = None
    ) -> Resolution:
        """The resolution of an existing `path` (ENOENT otherwise); `follow` a final symlink."""
        hops = [0] if _hops is None else _hops
        res = self._walk(path, hops)
        while True:
            step = res.final
            if not step.found:
                raise oserror(errno.ENOENT, path)
            top = step.sources[0]
            if not follow or top.entry.kind is not EntryKind.SYMLINK:
                return res
            hops[0] += 1
            if hops[0] > MAX_SYMLINKS:
                raise oserror(errno.ELOOP, path)
            target = os.readlink(top.realpath)
            base = posixpath.dirname(res.path)
            res = self._walk(posixpath.join(base, target), hops)

    def find_dir(self, path: str, *, _hops: list[int] | None = None) -> Resolution:
        """An existing directory (symlinks followed): ENOENT, ENOTDIR otherwise."""
        res = self.find(path, follow=True, _hops=_hops)
        if not res.final.is_dir:
            raise oserror(errno.ENOTDIR, path)
        return res

    def parent_of(self, path: str) -> tuple[Resolution, str]:
        """The resolved parent directory of `path` and the final name ("" for the root)."""
        check_path(path)
        parent, name = split_parent(path)
        return self.find_dir(parent), name

    def child(self, parent: Resolution, name: str) -> Step:
        """Look `name` up in the resolved directory `parent`."""
        return self.lowers.lookup(parent.final, name, self.layers)

    def lower_positive(self, parent: Step, name: str) -> bool:
        """True if `name` exists (not whited out) in the lower layers of `parent`.

        The kernel's ``ovl_lower_positive``: the first lower layer of the parent's stack
        holding the name decides; a whiteout there means "not positive".
        """
        lowers = tuple(p for p in parent.sources if not is_upper(p))
        if not lowers:
            return False
        below = Step(parent.name, lowers, lowers, lower_key=parent.lower_key)
        step = self.lowers.lookup(below, name, self.layers)
        return step.found

    def require_upper(self, path: str) -> str:
        """The upperdir, or EROFS for a read-only view."""
        if self.upperdir is None:
            raise oserror(errno.EROFS, path)
        return self.upperdir

    def upper_path(self, res: Resolution) -> str:
        """Where the resolved object lives (or would live) in the upperdir."""
        upper = self.upperdir
        assert upper is not None
        return upper if res.path == "/" else shorten(upper + res.path)


def is_merged_dir(step: Step) -> bool:
    """A directory made of several real directories (the kernel reports st_nlink 1)."""
    return step.is_dir and len(step.sources) > 1


def has_lower(step: Step) -> bool:
    """True if any real object of the entry is in a lower layer."""
    return any(not is_upper(p) for p in step.sources)


def in_upper(step: Step) -> bool:
    return step.found and is_upper(step.sources[0])
