"""Where COPY/ADD read from: the build context (a host dir, read in place, .dockerignore
applied) or an earlier stage / image (a read-only UnionView of its layers).

`SourceTree` is the small interface both give: `lstat`, `listdir`, `readlink` and
`real(rel)` (a host path whose bytes are the file's) for slash paths relative to the
tree's root ("" is the root). `expand_sources` turns COPY's source arguments into the
entries they name, with docker's rules: a path may not leave the tree; wildcards
(`*`, `?`, `[...]`) match one component each, as Go's filepath.Match; no match is an
error naming the source.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from layerfs.build.ignore import IgnoreMatcher
from layerfs.errors import InvalidInput, NotFound
from layerfs.union.view import UnionView

_MAX_LINKS = 40


class SourceTree(Protocol):
    """A read-only tree COPY reads from (paths: slash paths relative to its root)."""

    label: str

    def lstat(self, rel: str) -> os.stat_result | None: ...

    def listdir(self, rel: str) -> list[str]: ...

    def readlink(self, rel: str) -> str: ...

    def real(self, rel: str) -> str: ...

    def included(self, rel: str) -> bool: ...

    def descend(self, rel: str) -> bool: ...


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def normalize(rel: str) -> str:
    """A source argument as a slash path relative to the root; InvalidInput if it leaves it."""
    parts: list[str] = []
    for part in rel.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise InvalidInput(f"forbidden path outside the build context: {rel}")
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


class ContextTree:
    """The build context directory, read in place, filtered by ignore patterns."""

    def __init__(self, root: str, matcher: IgnoreMatcher | None = None) -> None:
        if not os.path.isdir(root):
            raise NotFound(f"build context {root}: no such directory")
        self.root = os.path.realpath(root)
        self.matcher = matcher or IgnoreMatcher(())
        self.label = "context"

    def real(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel else self.root

    def lstat(self, rel: str) -> os.stat_result | None:
        try:
            return os.lstat(self.real(rel))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def listdir(self, rel: str) -> list[str]:
        return sorted(os.listdir(self.real(rel)))

    def readlink(self, rel: str) -> str:
        return os.readlink(self.real(rel))

    def included(self, rel: str) -> bool:
        return not rel or not self.matcher.ignored(rel)

    def descend(self, rel: str) -> bool:
        """Walk into `rel` even if it is ignored: a later `!` pattern may bring a file back."""
        return self.included(rel) or self.matcher.has_exceptions


class UnionTree:
    """An image or stage root file system: a read-only UnionView of its layer dirs."""

    def __init__(self, lowerdirs: list[str], label: str) -> None:
        self.view = UnionView(lowerdirs) if lowerdirs else None
        self.label = label

    def lstat(self, rel: str) -> os.stat_result | None:
        if self.view is None:
            return None
        try:
            return self.view.lstat("/" + rel)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def listdir(self, rel: str) -> list[str]:
        return sorted(self.view.listdir("/" + rel)) if self.view else []

    def readlink(self, rel: str) -> str:
        assert self.view is not None
        return self.view.readlink("/" + rel)

    def real(self, rel: str) -> str:
        assert self.view is not None
        return self.view.lookup("/" + rel).realpath

    def included(self, rel: str) -> bool:
        return True

    def descend(self, rel: str) -> bool:
        return True


def resolve_links(tree: SourceTree, rel: str) -> str | None:
    """`rel` with symlinks in every component followed inside the tree; None if absent."""
    parts = [p for p in rel.split("/") if p]
    done: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = "/".join([*done, part])
        st = tree.lstat(candidate)
        if st is None:
            return None
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > _MAX_LINKS:
                raise InvalidInput(f"{tree.label}: too many levels of symbolic links: {rel}")
            target = tree.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        done.append(part)
    return "/".join(done)


def has_wildcards(arg: str) -> bool:
    return any(c in arg for c in "*?[")


def _glob(tree: SourceTree, pattern: str) -> list[str]:
    found = [""]
    for part in [p for p in pattern.split("/") if p]:
        nxt: list[str] = []
        for base in found:
            st = tree.lstat(base)
            if st is None or not stat.S_ISDIR(st.st_mode):
                continue
            if has_wildcards(part):
                nxt += [_join(base, n) for n in tree.listdir(base) if fnmatch.fnmatchcase(n, part)]
            elif tree.lstat(_join(base, part)) is not None:
                nxt.append(_join(base, part))
        found = nxt
    return [f for f in found if tree.included(f) or tree.descend(f)]


@dataclass(frozen=True)
class Source:
    """One source argument resolved: `rel` in its tree (links followed), and whether it
    is a directory (then its *contents* are copied)."""

    arg: str
    rel: str
    is_dir: bool


def expand_sources(tree: SourceTree, args: list[str]) -> list[Source]:
    """The entries COPY's source arguments name; InvalidInput when one matches nothing."""
    out: list[Source] = []
    for arg in args:
        clean = normalize(arg)
        names = _glob(tree, clean) if has_wildcards(clean) else [clean]
        matched = False
        for name in names:
            real = resolve_links(tree, name)
            if real is None or (real and not tree.included(real) and not tree.descend(real)):
                continue
            st = tree.lstat(real)
            if st is None:
                continue
            matched = True
            out.append(Source(arg, real, stat.S_ISDIR(st.st_mode)))
        if not matched:
            raise InvalidInput(
                f'failed to compute cache key: "/{posixpath.normpath(clean or ".")}" not found'
                f" in {tree.label}"
            )
    return out


def walk(tree: SourceTree, rel: str) -> Iterator[tuple[str, os.stat_result]]:
    """Every entry below directory `rel` (not `rel` itself), parents before children,
    names sorted; ignored entries are left out but ignored dirs are descended into when
    an exception pattern could bring something back (see ignore.py)."""
    for name in tree.listdir(rel):
        child = _join(rel, name)
        st = tree.lstat(child)
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):
            if tree.included(child):
                yield child, st
                yield from walk(tree, child)
            elif tree.descend(child):
                inner = list(walk(tree, child))
                if inner:
                    yield child, st  # a parent of a re-included entry
                    yield from inner
        elif tree.included(child):
            yield child, st
