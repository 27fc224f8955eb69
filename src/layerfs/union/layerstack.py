"""Name lookup over a stack of layer directories, the way the kernel's `ovl_lookup` does it.

This module answers "what does the union show at this path, and which real objects make it
up?" without a mount and without writing anything. It is the read-only core shared by
`trace` (which explains the answer layer by layer) and `changes` (which compares the union
with and without its upper layer).

Rules followed (fs/overlayfs/namei.c, see OVERLAY-SEMANTICS.md):

- A name is looked up in the upper layer's copy of the parent directory first, then in each
  lower layer where the parent directory exists (its *stack*), top first.
- A whiteout stops the lookup; so does a non-directory (a non-directory wins only if nothing
  was found above it); a non-directory below a directory is hidden and stops the lookup.
- Directories merge; an opaque directory stops the lookup below it.
- A directory with a ``*.overlay.redirect`` xattr makes the lower layers below it look the
  name up under the redirect instead: a relative redirect replaces the last component, an
  absolute one is looked up from the root of every layer below. With ``follow=False``
  (``redirect_dir=nofollow``, ``userxattr``) meeting a redirect with lower layers below
  makes the lookup fail with EPERM, as in the kernel.
- The root of every layer is always merged (an opaque marker on a layer root is ignored).

- A metacopy file (metadata-only copy-up) does not stop the lookup: the next regular file
  below holds its data.

Not modelled: ``index`` and origin verification, redirects of metacopy files, data-only
layers.
"""

from __future__ import annotations

import bisect
import errno
import os
import posixpath
import stat
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from layerfs.errors import InvalidOption, oserror
from layerfs.union.whiteouts import (
    EntryKind,
    LayerEntry,
    classify,
    dir_markers,
    is_internal_name,
    is_metacopy,
    scan_dir,
)

if TYPE_CHECKING:
    from layerfs.union.lowercache import LowerCache

MAX_SYMLINKS = 40


@dataclass(frozen=True)
class Layer:
    """One layer directory of a stack. `index` 0 is the upperdir, i is ``lowerdirs[i-1]``."""

    index: int
    root: str

    @property
    def role(self) -> str:
        """"upperdir" or "lowerdir"."""
        return "upperdir" if self.index == 0 else "lowerdir"

    @property
    def label(self) -> str:
        """A short human name: "upperdir", "lowerdir 1", ..."""
        return "upperdir" if self.index == 0 else f"lowerdir {self.index}"

    def real(self, relpath: str) -> str:
        """The real path of the union-relative `relpath` ("/a/b") inside this layer."""
        rel = relpath.lstrip("/")
        return os.path.join(self.root, rel) if rel else self.root


def make_layers(lowerdirs: Sequence[str], upperdir: str | None = None) -> tuple[Layer, ...]:
    """The stack top first. Raises `InvalidOption` naming a layer that is not a directory."""
    layers = []
    if upperdir is not None:
        layers.append(Layer(0, os.fspath(upperdir)))
    layers.extend(Layer(i, os.fspath(d)) for i, d in enumerate(lowerdirs, start=1))
    for layer in layers:
        if not os.path.isdir(layer.root):
            raise InvalidOption(f"{layer.label} {layer.root!r} is not a directory")
    return tuple(layers)


@dataclass(frozen=True)
class Probe:
    """What one layer held when the lookup consulted it under `relpath`.

    `outcome` says what the lookup did with it: "merged" (a directory joined the result),
    "top" (a non-directory that is the result), "data" (the file holding the data of a
    metacopy file above), "whiteout" (stopped the lookup), "below-dir" (a non-directory
    under a directory: hidden, stopped the lookup), "ignored" (not a regular file below a
    metacopy file), "absent", or "blocked" (an intermediate component of a redirect path
    stopped the walk).
    """

    layer: Layer
    relpath: str
    entry: LayerEntry
    outcome: str
    opaque: bool = False
    redirect: str | None = None
    metacopy: bool = False

    @property
    def realpath(self) -> str:
        """The real path, computed once (not kept when it goes through an fd anchor of
        `longpath`, which is re-validated at every use)."""
        real = self.__dict__.get("_real")
        if real is None:
            real = self.layer.real(self.relpath)
            if not real.startswith("/proc/self/fd/"):
                object.__setattr__(self, "_real", real)
        return real


@dataclass(frozen=True)
class Step:
    """The result of looking up one name: the probes made (in order) and the sources.

    `sources` are the probes whose objects make up the union entry, top first: one for a
    non-directory, one or more for a directory, none if the name does not exist. `errno`
    is set when the kernel would fail the lookup itself (EPERM for a refused redirect).
    `lower_key` (set by `LowerCache`) identifies the lower directories in `sources`: equal
    keys, equal lower stacks.
    """

    name: str
    probes: tuple[Probe, ...]
    sources: tuple[Probe, ...]
    errno: int | None = None
    lower_key: Hashable | None = field(default=None, compare=False, repr=False)

    @property
    def found(self) -> bool:
        return bool(self.sources) and self.errno is None

    @property
    def top(self) -> Probe | None:
        return self.sources[0] if self.found else None

    @property
    def is_dir(self) -> bool:
        return self.found and self.sources[0].entry.kind is EntryKind.DIR

    def key(self) -> tuple[tuple[int, str], ...]:
        """Identity of the union entry: the real objects it is made of."""
        return tuple((p.layer.index, p.relpath) for p in self.sources) if self.found else ()


def root_step(layers: Sequence[Layer]) -> Step:
    """The union root: every layer root, merged."""
    probes = tuple(
        Probe(layer, "/", LayerEntry(EntryKind.DIR, os.lstat(layer.root)), "merged")
        for layer in layers
    )
    return Step("/", probes, probes)


@dataclass
class Walk:
    """Mutable state of one `lookup` (the kernel's ``struct ovl_lookup_data``)."""

    name: str  # relative single name, or an absolute path after an absolute redirect
    is_dir: bool = False
    stop: bool = False
    metacopy: bool = False
    redirect: str | None = None
    probes: list[Probe] = field(default_factory=list)
    sources: list[Probe] = field(default_factory=list)


def lookup(parent: Step, name: str, layers: Sequence[Layer], *, follow: bool = True) -> Step:
    """Look `name` up in the directory `parent` (a found directory step).

    Every layer of the stack consulted is probed on disk and recorded in `Step.probes`
    (`trace` shows them). `LowerCache.lookup` gives the same sources and errno, faster.
    """
    w = Walk(name)
    to_roots = probe_upper(w, parent)
    err = None if w.stop else probe_lowers(w, lower_stack(parent, layers, to_roots), layers,
                                           follow=follow)
    return Step(name, tuple(w.probes), tuple(w.sources), err)


def probe_upper(w: Walk, parent: Step) -> bool:
    """Probe the upper copy of `parent` (if any) for `w.name`.

    True when an absolute redirect found there makes the lower layers look the name up
    from their roots (`lower_stack` with `to_roots`).
    """
    if not parent.sources or parent.sources[0].layer.index != 0:
        return False
    upper = parent.sources[0]
    _probe(w, upper.layer, upper.relpath, last=False)
    return w.redirect is not None and w.redirect.startswith("/")


def lower_stack(parent: Step, layers: Sequence[Layer], to_roots: bool) -> list[Probe]:
    """The lower directories the name is looked up in: the parent's, or every lower root."""
    if to_roots:
        return [_root_of(layer) for layer in layers if layer.index > 0]
    return [p for p in parent.sources if p.layer.index > 0]


def probe_lowers(
    w: Walk,
    stack: list[Probe],
    layers: Sequence[Layer],
    *,
    follow: bool,
    index: Mapping[str, tuple[int, ...]] | None = None,
) -> int | None:
    """Continue the lookup of `w` down `stack` (the kernel's loop over ``lowerstack``).

    `index` (optional) maps each name present in the directories of `stack` (as an object
    or a whiteout) to its positions in `stack`, ascending: layers where the name is absent
    are then skipped without a probe (and without an "absent" probe recorded). It is used
    only while the plain name is looked up in `stack` itself (not after an absolute
    redirect, not for OCI marker names). Returns the errno of a refused redirect, or None.
    """
    orig = stack
    i = 0
    while not w.stop and i < len(stack):
        if index is not None and stack is orig and "/" not in w.name \
                and not is_internal_name(w.name):
            where = index.get(w.name, ())
            j = bisect.bisect_left(where, i)
            if j == len(where):
                break
            i = where[j]
        base = stack[i]
        found_before = len(w.sources)
        _probe(w, base.layer, base.relpath, last=i == len(stack) - 1)
        if len(w.sources) == found_before:
            i += 1
            continue
        if w.stop:
            break
        if w.redirect is not None and not follow:
            return errno.EPERM
        if w.redirect is not None and w.redirect.startswith("/") and base.relpath != "/":
            below = [layer for layer in layers if layer.index > base.layer.index]
            stack = stack[: i + 1] + [_root_of(layer) for layer in below]
        i += 1
    return None


def _root_of(layer: Layer) -> Probe:
    return Probe(layer, "/", LayerEntry(EntryKind.DIR), "merged")


def _probe(w: Walk, layer: Layer, base: str, *, last: bool) -> None:
    """Consult one layer (``ovl_lookup_layer``): walk `w.name` from `base` in it."""
    parts = [c for c in w.name.split("/") if c] if w.name.startswith("/") else [w.name]
    rel = "/" if w.name.startswith("/") else base
    for k, comp in enumerate(parts):
        final = k == len(parts) - 1
        parent_rel = rel
        rel = rel + comp if rel.endswith("/") else rel + "/" + comp
        entry = classify(layer.real(parent_rel), comp)
        kind = entry.kind
        if kind is EntryKind.ABSENT:
            w.probes.append(Probe(layer, rel, entry, "absent" if final else "blocked"))
            return
        if kind is EntryKind.WHITEOUT:
            w.stop = True
            w.probes.append(Probe(layer, rel, entry, "whiteout" if final else "blocked"))
            return
        if kind is not EntryKind.DIR or (final and w.metacopy):
            _probe_non_dir(w, layer, rel, entry, final=final, last=last)
            return
        opaque = False
        redirect = None
        if not last:
            opaque, redirect = dir_markers(layer.real(rel))
            if opaque:
                w.stop = True
            if redirect is not None:
                _apply_redirect(w, redirect, parts, k)
        if final:
            w.is_dir = True
            probe = Probe(layer, rel, entry, "merged", opaque, redirect)
            w.probes.append(probe)
            w.sources.append(probe)


def _probe_non_dir(
    w: Walk, layer: Layer, rel: str, entry: LayerEntry, *, final: bool, last: bool
) -> None:
    """A non-directory (or anything below a metacopy file): the result, unless a directory
    was found above (then hidden).

    A metacopy file (``*.overlay.metacopy``) does not stop the lookup: the next regular
    file below holds its data (outcome "data"); anything else there is "ignored".
    """
    if w.is_dir or not final:
        w.stop = True
        w.probes.append(Probe(layer, rel, entry, "below-dir" if final else "blocked"))
        return
    holds_data = w.metacopy
    if holds_data and entry.kind is not EntryKind.FILE:
        w.stop = True
        w.probes.append(Probe(layer, rel, entry, "ignored"))
        return
    w.metacopy = entry.kind is EntryKind.FILE and not last and is_metacopy(layer.real(rel))
    w.stop = not w.metacopy
    probe = Probe(layer, rel, entry, "data" if holds_data else "top", metacopy=w.metacopy)
    w.probes.append(probe)
    w.sources.append(probe)


def _apply_redirect(w: Walk, redirect: str, parts: list[str], k: int) -> None:
    """Rewrite the name the layers below will look up (``ovl_check_redirect``)."""
    post = parts[k + 1 :]
    if redirect.startswith("/"):
        new = "/" + "/".join([c for c in redirect.split("/") if c] + post)
    elif w.name.startswith("/"):
        new = "/" + "/".join([*parts[:k], redirect, *post])
    else:
        new = redirect
    w.redirect = redirect
    w.name = new


def entry_at(layer: Layer, relpath: str) -> LayerEntry:
    """What `relpath` is inside one layer, never following a symlink of the layer.

    A path whose parent is not a chain of real directories in that layer is ABSENT.
    """
    parts = [c for c in relpath.split("/") if c]
    if not parts:
        return LayerEntry(EntryKind.DIR, os.lstat(layer.root))
    parent = "/"
    for comp in parts[:-1]:
        parent = posixpath.join(parent, comp)
        try:
            st = os.lstat(layer.real(parent))
        except OSError:
            return LayerEntry(EntryKind.ABSENT)
        if not stat.S_ISDIR(st.st_mode):
            return LayerEntry(EntryKind.ABSENT)
    return classify(layer.real(parent), parts[-1])


def children(step: Step) -> list[str]:
    """Names a merged directory may show: every name of every source, markers excluded.

    Whiteouts are not applied here (`lookup` decides); the list is sorted bytewise.
    """
    names: set[str] = set()
    for src in step.sources:
        layer_dir = scan_dir(src.realpath)
        names.update(layer_dir.entries)
        names.update(layer_dir.whiteouts)
    return sorted((n for n in names if not is_internal_name(n)), key=os.fsencode)


def split_path(path: str) -> list[str]:
    """Components of a union path; "." and empty components dropped, ".." kept."""
    if "\0" in path:
        raise oserror(errno.EINVAL, path)
    return [c for c in path.split("/") if c and c != "."]


@dataclass(frozen=True)
class Resolution:
    """A whole path resolved: the step of every component, the last one for the path.

    `path` is the normalized union path actually looked up (intermediate symlinks resolved
    inside the union). `steps[0]` is the root. `error` is an errno when the path cannot be
    resolved (ENOENT, ENOTDIR, ELOOP, EPERM); then `steps` ends with the failing step.
    """

    path: str
    steps: tuple[Step, ...]
    error: int | None = None

    @property
    def final(self) -> Step:
        return self.steps[-1]


def resolve(
    layers: Sequence[Layer], path: str, *, follow: bool = True, cache: LowerCache | None = None
) -> Resolution:
    """Resolve union `path` component by component; the final component is not followed.

    With a `cache` the steps come from `LowerCache` (same sources, fewer probes recorded).
    """
    todo = split_path(path)
    steps: list[Step] = [root_step(layers) if cache is None else cache.root(layers)]
    done: list[str] = []
    hops = 0
    while todo:
        comp = todo.pop(0)
        if comp == "..":
            if done:
                done.pop()
                steps.pop()
            continue
        if cache is None:
            step = lookup(steps[-1], comp, layers, follow=follow)
        else:
            step = cache.lookup(steps[-1], comp, layers, follow=follow)
        steps.append(step)
        done.append(comp)
        if step.errno is not None:
            return Resolution(_join(done), tuple(steps), step.errno)
        if not todo:
            break
        if not step.found:
            return Resolution(_join(done + todo), tuple(steps), errno.ENOENT)
        top = step.sources[0]
        if top.entry.kind is EntryKind.SYMLINK:
            hops += 1
            if hops > MAX_SYMLINKS:
                return Resolution(_join(done), tuple(steps), errno.ELOOP)
            target = os.readlink(top.realpath)
            done.pop()
            steps.pop()
            if target.startswith("/"):
                done, steps = [], steps[:1]
            todo = split_path(target) + todo
            continue
        if not step.is_dir:
            return Resolution(_join(done + todo), tuple(steps), errno.ENOTDIR)
    return Resolution(_join(done), tuple(steps))


def _join(parts: Sequence[str]) -> str:
    return "/" + "/".join(parts)
