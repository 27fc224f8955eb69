"""What the lower layers hold, remembered for the life of a view.

Lower layers never change while a union uses them (the kernel calls changing them
undefined), so what a lookup finds *below* the upper layer is a pure function of the
lower directories it looks in and of the state the upper layer left the lookup in (the
name after a redirect, "a directory was found above", "a metacopy file was found above",
the redirect-follow rule). `LowerCache` keeps that function's results:

- a **step memo**: for (lower stack, lookup state) the lower probes, sources and errno.
  A lookup probes the upper layer on disk (it changes through the view) and takes the
  rest from the memo; its cost no longer grows with the number of layers. The top lower
  object is lstat'ed afresh when it is what the union shows (atime moves on reads).
- a **name index** per lower stack: every name present in its directories (as an object
  or a whiteout of any form) and at which positions. Built from one listing of each
  directory, on the second memo miss in that stack; a name missing from the index costs
  no probe at all, a present one only the probes of the layers that hold it.

Steps made here carry a `Step.lower_key` that names their lower stack cheaply (a chain of
memo keys), so a child lookup never rebuilds a key from the whole stack. The upper
layer's own changes need nothing here: it is never cached.

Bounded: the memo is dropped when it reaches `STEP_LIMIT` entries, the indexes when they
hold `NAME_LIMIT` names. Safe for concurrent readers (at worst a result is computed
twice).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence

from layerfs.union.layerstack import (
    Layer,
    Probe,
    Step,
    Walk,
    lower_stack,
    probe_lowers,
    probe_upper,
)
from layerfs.union.whiteouts import OCI_PREFIX, EntryKind, LayerEntry

_Index = dict[str, tuple[int, ...]]
_Memo = tuple[tuple[Probe, ...], tuple[Probe, ...], int | None]
_NO_LOWERS: Hashable = ("S", ())
_ROOTS: Hashable = ("R",)


class LowerCache:
    """Memoised lookups below the upper layer of one union (see the module docstring)."""

    STEP_LIMIT = 1 << 17
    NAME_LIMIT = 1 << 21
    DIR_BYTES_LIMIT = 8 << 20  # larger directories (st_size, all layers) are not indexed

    def __init__(self) -> None:
        self._memo: dict[Hashable, _Memo] = {}
        self._index: dict[Hashable, _Index | None] = {}
        self._misses: dict[Hashable, int] = {}
        self._names = 0
        self._root: tuple[Sequence[Layer], tuple[Probe, ...]] | None = None

    # ------------------------------------------------------------------ steps

    def root(self, layers: Sequence[Layer]) -> Step:
        """The union root (every layer root merged): the upper root lstat'ed afresh."""
        cached = self._root
        if cached is None or cached[0] is not layers:
            lowers = tuple(_fresh(Probe(lay, "/", LayerEntry(EntryKind.DIR), "merged"))
                           for lay in layers if lay.index > 0)
            cached = self._root = (layers, lowers)
        lowers = cached[1]
        top = tuple(_fresh(Probe(lay, "/", LayerEntry(EntryKind.DIR), "merged"))
                    for lay in layers if lay.index == 0)
        if not top and lowers:
            lowers = (_fresh(lowers[0]), *lowers[1:])
        probes = (*top, *lowers)
        return Step("/", probes, probes, lower_key=_ROOTS)

    def lookup(
        self, parent: Step, name: str, layers: Sequence[Layer], *, follow: bool = True
    ) -> Step:
        """`layerstack.lookup` with the lower part memoised: the same sources and errno.

        `Step.probes` lists the upper probe and the lower probes made when the result was
        first computed (layers skipped by the index are not listed): use
        `layerstack.lookup` where every probe matters (`trace`).
        """
        w = Walk(name)
        to_roots = probe_upper(w, parent)
        if w.stop:
            return Step(name, tuple(w.probes), tuple(w.sources), lower_key=_NO_LOWERS)
        pkey = parent.lower_key if parent.lower_key is not None else _stack_key(parent)
        key = (pkey, w.name, w.redirect, w.is_dir, w.metacopy, follow, to_roots)
        hit = self._memo.get(key)
        if hit is None:
            stack = lower_stack(parent, layers, to_roots)
            index = None if to_roots else self._index_for(pkey, stack)
            n_probes, n_sources = len(w.probes), len(w.sources)
            err = probe_lowers(w, stack, layers, follow=follow, index=index)
            hit = (tuple(w.probes[n_probes:]), tuple(w.sources[n_sources:]), err)
            if len(self._memo) >= self.STEP_LIMIT:
                self._memo.clear()
            self._memo[key] = hit
            return Step(name, tuple(w.probes), tuple(w.sources), err, lower_key=key)
        probes, sources, err = hit
        if not w.sources and sources:
            top = _fresh(sources[0])
            sources = (top, *sources[1:])
            probes = tuple(top if p is hit[1][0] else p for p in probes)
        return Step(name, (*w.probes, *probes), (*w.sources, *sources), err, lower_key=key)

    # ------------------------------------------------------------------ name index

    def _index_for(self, pkey: Hashable, stack: list[Probe]) -> _Index | None:
        """The name index of `stack`, built on its second memo miss (None: not indexed)."""
        if pkey in self._index:
            return self._index[pkey]
        misses = self._misses.get(pkey, 0) + 1
        if misses < 2:
            if len(self._misses) >= self.STEP_LIMIT:
                self._misses.clear()
            self._misses[pkey] = misses
            return None
        self._misses.pop(pkey, None)
        index = build_index(stack, self.DIR_BYTES_LIMIT)
        size = 0 if index is None else len(index)
        if self._names + size > self.NAME_LIMIT:
            self._index.clear()
            self._names = 0
        self._index[pkey] = index
        self._names += size
        return index


def build_index(stack: Sequence[Probe], byte_limit: int) -> _Index | None:
    """Name → positions in `stack` of the directories holding it (object or whiteout).

    A ``.wh.NAME`` file counts for NAME (the OCI whiteout form); the index may list a name
    that a probe then finds absent, never the reverse. None when a directory cannot be
    listed (e.g. no read permission: lookups need only search permission) or the stack
    is larger than `byte_limit` in directory bytes.
    """
    total = sum(p.entry.st.st_size for p in stack if p.entry.st is not None)
    if total > byte_limit:
        return None
    found: dict[str, list[int]] = {}
    cut = len(OCI_PREFIX)
    for pos, probe in enumerate(stack):
        try:
            names = os.listdir(probe.realpath)
        except OSError:
            return None
        for n in names:
            if n.startswith(OCI_PREFIX):
                n = n[cut:]
            where = found.get(n)
            if where is None:
                found[n] = [pos]
            elif where[-1] != pos:
                where.append(pos)
    return {n: tuple(v) for n, v in found.items()}


def _stack_key(step: Step) -> Hashable:
    return ("S", tuple((p.layer.index, p.relpath) for p in step.sources if p.layer.index > 0))


def _fresh(probe: Probe) -> Probe:
    """`probe` with its object lstat'ed now (kept as it was if that fails)."""
    try:
        st = os.lstat(probe.realpath)
    except OSError:
        return probe
    fresh = Probe(probe.layer, probe.relpath, LayerEntry(probe.entry.kind, st), probe.outcome,
                  probe.opaque, probe.redirect, probe.metacopy)
    if "_real" in probe.__dict__:  # the real path computed once (`Probe.realpath`)
        object.__setattr__(fresh, "_real", probe.__dict__["_real"])
    return fresh
