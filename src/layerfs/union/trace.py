"""`trace`: what a path is in every layer of an overlay stack, and which layer wins.

The seed's "trace a file read/write through the overlay stack": for each layer, top first,
the row says what the kernel's lookup found there (or why it never looked), and the
`Trace.summary` says where a read is served from and what a write would do.

Pure reading: nothing is written, no mount is needed, any user may call it.
"""

from __future__ import annotations

import errno
import os
import posixpath
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from layerfs.union.layerstack import (
    Layer,
    Probe,
    Resolution,
    Step,
    entry_at,
    make_layers,
    resolve,
)
from layerfs.union.whiteouts import EntryKind

STATES = (
    "file", "dir", "symlink", "special", "whiteout", "opaque dir", "redirect", "absent", "hidden",
)


@dataclass(frozen=True)
class TraceRow:
    """What one layer holds at the traced path.

    `index`: 0 = upperdir, i = ``lowerdirs[i-1]`` (as `Node.layer`); `role`: "upperdir" or
    "lowerdir"; `layer`: the layer directory; `state`: one of `STATES` ("hidden" when an
    object is there but the lookup never reaches it or skips it); `kind`: what the object
    there is regardless of visibility ("absent" if nothing); `size`: st_size of a file or
    symlink; `realpath`: the real path consulted (after redirects); `redirect`: the redirect
    target of a directory; `visible`: True if this object is (part of) what the union shows;
    `reason`: why a row is hidden (or why the lookup never looked here).
    """

    index: int
    role: str
    layer: str
    state: str
    size: int | None
    realpath: str
    kind: str = "absent"
    redirect: str | None = None
    visible: bool = False
    reason: str = ""

    @property
    def label(self) -> str:
        return "upperdir" if self.index == 0 else f"lowerdir {self.index}"

    def explain(self) -> str:
        """One human sentence about this row."""
        what = {
            "file": f"a file of {self.size} byte{'' if self.size == 1 else 's'}",
            "symlink": "a symlink",
            "special": "a special file",
            "dir": "a directory",
            "opaque dir": "an opaque directory (hides the same directory below)",
            "redirect": f"a directory redirected to {self.redirect!r}",
            "whiteout": "a whiteout: the name is deleted here and below",
            "absent": "nothing",
        }.get(self.state)
        if what is None:  # hidden
            what = f"a {self.kind}, hidden: {self.reason}"
        head = f"{self.label} ({self.realpath}): {what}"
        return head + ("  <- shown" if self.visible else "")


@dataclass(frozen=True)
class Trace:
    """The traced union `path` (normalized), one row per layer top first, and the winner.

    `winner` is the `index` of the row the union shows (for a directory: the top one of the
    merged rows), None when the path does not exist in the union; `error` is then the errno
    name of the failure ("ENOENT", "ENOTDIR", "ELOOP", "EPERM").
    """

    path: str
    rows: tuple[TraceRow, ...]
    winner: int | None
    error: str | None = None
    reason: str = ""

    def row(self, index: int) -> TraceRow:
        """The row of layer `index` (0 = upperdir). KeyError if there is none."""
        for r in self.rows:
            if r.index == index:
                return r
        raise KeyError(index)

    @property
    def summary(self) -> str:
        """Where a read is served from and what a write would do, in one sentence."""
        has_upper = any(r.index == 0 for r in self.rows)
        if self.winner is None:
            return f"{self.path}: not in the union: {self._why_missing()}"
        top = self.row(self.winner)
        if top.state in ("dir", "opaque dir", "redirect"):
            srcs = ", ".join(f"{r.label} ({r.realpath})" for r in self.rows if r.visible)
            head = f"{self.path}: a directory merged from {srcs}"
            in_upper, in_lower = (
                "new entries are created in upperdir directly",
                "creating an entry in it copies the directory up to upperdir first",
            )
        else:
            data = next((r for r in self.rows if r.visible and r.index > top.index), top)
            head = f"{self.path}: read: served from {data.label} ({data.realpath})"
            in_upper, in_lower = (
                "writes go to that file directly (already in upperdir)",
                "a write would copy it up to upperdir first",
            )
            if data is not top:
                head += f", metadata from {top.label} (metacopy)"
                in_upper = "a write would first copy the data up into the upperdir file"
        if not has_upper:
            return head + "; the union is read-only (no upperdir): writes fail with EROFS"
        return f"{head}; {in_upper if self.winner == 0 else in_lower}"

    def _why_missing(self) -> str:
        if self.reason:
            return self.reason
        for r in self.rows:
            if r.state == "whiteout":
                return f"deleted by a whiteout in {r.label} ({r.realpath})"
        for r in self.rows:
            if r.state == "hidden":
                return f"{r.label} has a {r.kind} there, hidden: {r.reason}"
        return "no layer has it"

    def explain(self) -> str:
        """The summary followed by one line per row."""
        return "\n".join([self.summary, *("  " + r.explain() for r in self.rows)])

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (rows as dicts, plus the summary)."""
        return {
            "path": self.path,
            "winner": self.winner,
            "error": self.error,
            "reason": self.reason,
            "summary": self.summary,
            "rows": [asdict(r) for r in self.rows],
        }


def trace_layers(
    lowerdirs: Sequence[str], upperdir: str | None, path: str, *, redirect_follow: bool = True
) -> Trace:
    """Trace union `path` through `lowerdirs` (top first) and `upperdir` (None: read-only).

    Intermediate symlinks are resolved inside the union; the final component is not
    followed. `redirect_follow=False` models ``redirect_dir=nofollow``/``userxattr``.
    Raises `InvalidOption` if a layer is not a directory; never raises for a missing path.
    """
    layers = make_layers(lowerdirs, upperdir)
    res = resolve(layers, path, follow=redirect_follow)
    final = res.final
    parent = res.steps[-2] if len(res.steps) > 1 else None
    rows = tuple(_row(layer, res, final, parent) for layer in layers)
    if len(res.steps) == 1:  # the root itself
        return Trace("/", rows, layers[0].index)
    winner = None
    if res.error is None and _is_last(res) and final.found:
        winner = final.sources[0].layer.index
    err = res.error if res.error is not None else (None if winner is not None else errno.ENOENT)
    if err is None:
        return Trace(res.path, rows, winner)
    return Trace(res.path, rows, None, errno.errorcode[err], _failure(res))


trace = trace_layers


def _failure(res: Resolution) -> str:
    """Why the resolution failed before the final component ("" if it did not)."""
    if res.error == errno.EPERM:
        return "a redirect would have to be followed and redirects are not followed"
    if res.error == errno.ELOOP:
        return "too many levels of symbolic links"
    if _is_last(res):
        return ""
    k = len(res.steps) - 1
    where = _step_path(res, k)
    step = res.steps[-1]
    if step.found:
        top = step.sources[0]
        return f"{where} is a {top.entry.kind.value} in {top.layer.label}, not a directory"
    for p in step.probes:
        if p.outcome == "whiteout":
            return f"{where} is deleted by a whiteout in {p.layer.label}"
    return f"{where} does not exist in the union"


def _row(layer: Layer, res: Resolution, final: Step, parent: Step | None) -> TraceRow:
    if parent is None:
        st = os.lstat(layer.root)
        return _make(layer, "/", "dir", st, visible=True)
    probe = next((p for p in final.probes if p.layer.index == layer.index), None)
    if probe is not None and res.steps[-1] is final and _is_last(res):
        return _from_probe(probe, final, res)
    rel = _relpath_for(layer, res, parent, final)
    entry = entry_at(layer, rel)
    kind = entry.kind.value
    reason = _why_not_reached(layer, res, final)
    state = "absent" if entry.kind is EntryKind.ABSENT else "hidden"
    return _make(layer, rel, state, entry.st, kind=kind, reason=reason)


def _is_last(res: Resolution) -> bool:
    return len(res.steps) - 1 == len([c for c in res.path.split("/") if c])


def _from_probe(probe: Probe, final: Step, res: Resolution) -> TraceRow:
    kind = probe.entry.kind.value
    st = probe.entry.st
    layer = probe.layer
    if probe.outcome == "merged":
        state = "redirect" if probe.redirect else ("opaque dir" if probe.opaque else "dir")
        visible = res.error is None
        return _make(layer, probe.relpath, state, st, kind=kind, redirect=probe.redirect,
                     visible=visible)
    if probe.outcome in ("top", "data"):
        reason = ""
        if probe.metacopy:
            reason = "metadata only (metacopy): the data is in a layer below"
        elif probe.outcome == "data":
            reason = "holds the data of the metacopy file above"
        return _make(layer, probe.relpath, kind, st, kind=kind, visible=res.error is None,
                     reason=reason)
    if probe.outcome == "whiteout":
        return _make(layer, probe.relpath, "whiteout", st, kind="whiteout")
    if probe.outcome == "absent":
        return _make(layer, probe.relpath, "absent", None)
    top = final.sources[0] if final.sources else None
    if probe.outcome == "below-dir" and top is not None:
        reason = f"a {kind} below the directory of {top.layer.label} is ignored"
    elif probe.outcome == "ignored":
        reason = "not a regular file: cannot hold the data of the metacopy file above"
    else:
        reason = f"the redirect path is blocked at {probe.relpath} in this layer"
    state = "absent" if probe.entry.kind is EntryKind.ABSENT else "hidden"
    return _make(layer, probe.relpath, state, st, kind=kind, reason=reason)


def _make(layer: Layer, rel: str, state: str, st: os.stat_result | None, *, kind: str = "",
          redirect: str | None = None, visible: bool = False, reason: str = "") -> TraceRow:
    size = st.st_size if st is not None and state in ("file", "symlink") else None
    if state == "hidden" and st is not None and kind in ("file", "symlink"):
        size = st.st_size
    return TraceRow(layer.index, layer.role, layer.root, state, size, layer.real(rel),
                    kind or state, redirect, visible, reason)


def _relpath_for(layer: Layer, res: Resolution, parent: Step, final: Step) -> str:
    """The path the lookup would consult in a layer it did not consult."""
    if not _is_last(res):
        return res.path
    for src in parent.sources:
        if src.layer.index == layer.index:
            return posixpath.join(src.relpath, final.name)
    return res.path


def _why_not_reached(layer: Layer, res: Resolution, final: Step) -> str:
    """Why the lookup never consulted `layer` for the final component."""
    steps = res.steps
    complete = _is_last(res)
    for k in range(1, len(steps)):
        parent, step = steps[k - 1], steps[k]
        in_parent = any(p.layer.index == layer.index for p in parent.sources)
        in_step = any(p.layer.index == layer.index for p in step.sources)
        terminal = k == len(steps) - 1
        if not in_parent or (in_step and not terminal):
            continue
        where = _step_path(res, k)
        if terminal and complete:
            return _stop_reason(step, where, "the lookup stopped above")
        if terminal and step.found:
            top = step.sources[0]
            return f"{where} is a {top.entry.kind.value} in {top.layer.label}, not a directory"
        return _stop_reason(step, where, f"{where} does not exist in the union", layer=layer)
    return "the union lookup never reaches this layer"


def _stop_reason(step: Step, where: str, default: str, layer: Layer | None = None) -> str:
    if layer is not None:
        own = next((p for p in step.probes if p.layer.index == layer.index), None)
        if own is not None and own.outcome == "absent":
            return f"{where} does not exist in this layer"
        if own is not None and own.outcome == "whiteout":
            return f"{where} is a whiteout in this layer"
        if own is not None and own.outcome == "below-dir":
            return f"{where} is a {own.entry.kind.value} in this layer, below a directory"
    for p in step.probes:
        if p.outcome == "whiteout":
            return f"{where} is a whiteout in {p.layer.label}"
        if p.outcome == "top":
            return f"{where} is a {p.entry.kind.value} in {p.layer.label}"
        if p.outcome == "merged" and p.opaque:
            return f"{where} is an opaque directory in {p.layer.label}"
        if p.outcome == "below-dir":
            return f"{where} is a {p.entry.kind.value} in {p.layer.label}, below a directory"
    return default


def _step_path(res: Resolution, k: int) -> str:
    parts = [s.name for s in res.steps[1 : k + 1]]
    return "/" + "/".join(parts)
