"""The seed's "Wrong COPY order" rule: `COPY . DEST` before the RUN that installs the
dependencies. Every change to any file of the context then misses the cache at the
COPY, and the install runs again; the fix copies only the manifests the install reads,
installs, and copies everything after.

The installs moved are the RUNs right after the COPY (other instructions may sit
between) that only install: a RUN that does anything else may need the code, and
stops the search.
"""

from __future__ import annotations

import posixpath
from dataclasses import replace

from layerfs.analysis.lint_context import ContextInfo
from layerfs.analysis.lint_model import REBUILD_BYTES, Finding
from layerfs.analysis.lint_rules import (
    StageInput,
        commands_of,
    copies_context,
    lines_text,
    workdir_at,
)
from layerfs.analysis.lint_shell import manifests, squeeze
from layerfs.build.parser import Instruction

_STOPS = frozenset({"COPY", "ADD", "WORKDIR", "USER", "SHELL", "FROM"})


def _installs(ins: Instruction) -> list[tuple[str, ...]] | None:
    """The manifests of each install in a RUN that only installs (None otherwise)."""
    cmds = commands_of(ins)
    found = [manifests(c) for c in cmds]
    if not cmds or any(m is None for m in found):
        return None
    return [m for m in found if m is not None]


def copy_before_install(si: StageInput, context: ContextInfo | None) -> list[Finding]:
    body = si.stage.instructions
    out = []
    for k, ins in enumerate(body):
        written = copies_context(ins)
        if written is None:
            continue
        runs: list[Instruction] = []
        files: list[str] = []
        between: list[Instruction] = []
        dest = posixpath.join(workdir_at(si.stage, ins), written)
        for later in body[k + 1:]:
            if later.keyword in _STOPS:
                break
            if later.keyword != "RUN":
                between.append(later)
                continue
            installs = _installs(later)
            if installs is None:
                break
            runs.append(later)
            between.append(later)
            files += [_relative(f, dest, workdir_at(si.stage, later)) for m in installs
                      for f in m]
        if runs:
            between = between[: between.index(runs[-1]) + 1]
            out.append(_finding(si, ins, written, runs, between, _present(files, context)))
    return out


def _relative(path: str, dest: str, cwd: str) -> str:
    """A manifest's path in the context, given where COPY . put the context."""
    full = posixpath.normpath(posixpath.join(cwd, path))
    root = dest.rstrip("/") or "/"
    if full.startswith(root.rstrip("/") + "/"):
        return full[len(root.rstrip("/")) + 1:]
    return posixpath.basename(path)


def _present(files: list[str], context: ContextInfo | None) -> list[str]:
    unique = list(dict.fromkeys(files))
    if context is None:
        return unique
    return [f for f in unique if context.has(f)] or unique[:1]


def _finding(si: StageInput, copy: Instruction, dest: str, runs: list[Instruction],
             between: list[Instruction], files: list[str]) -> Finding:
    target = dest.rstrip("/") + "/"
    fix = ([f"COPY {' '.join(files)} {target}"] if files else []) + \
        [squeeze(i.original) for i in between] + [squeeze(copy.original)]
    what = f"the manifests ({', '.join(files)})" if files else "no file of the context"
    message = (f"COPY of the whole context on line {copy.line} comes before the install on "
               f"{lines_text(runs)}: any change to any file misses the cache there and the "
               f"install runs again; it needs {what}")
    finding = Finding("copy-before-install", si.stage.label,
                      (copy.line, *(r.line for r in runs)), si.span(copy, runs[-1]), message,
                      tuple(fix), fix_note="copy the dependency manifests first, install, "
                      "then copy the rest" if files else "install first, then copy the context")
    if si.image is None:
        return finding
    size = sum(la.size for la in (si.image.layer(r) for r in runs) if la is not None)
    return replace(finding, cost=size, cost_kind=REBUILD_BYTES,
                   cost_note=f"the layer{'s' if len(runs) > 1 else ''} of {lines_text(runs)}, "
                   "made again after any change to any file of the context")
