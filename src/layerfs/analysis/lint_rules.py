"""The Dockerfile rules of `layerfs lint`, one function per row of the seed's "Common
Mistakes" table that a Dockerfile shows (COPY order: lint_order.py; .dockerignore:
lint_context.py).

Each rule reads one stage; with an `ImageMap` (the stage's layers in the built image) it
also measures what the mistake costs, from the layers' changes and dive's waste items.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, replace

from layerfs.analysis.lint_costs import LAYER_KEYWORDS, ImageMap
from layerfs.analysis.lint_fix import combine
from layerfs.analysis.lint_model import IMAGE_BYTES, Charge, Finding
from layerfs.analysis.lint_shell import (
    MANAGERS,
    Command,
    Manager,
    package_role,
    rm_targets,
    script_of,
    split_commands,
    under,
    writes,
)
from layerfs.build.parser import Instruction
from layerfs.build.stages import Stage

_EVERYTHING = frozenset({".", "./", "*", "./*", "/"})


@dataclass(frozen=True)
class StageInput:
    """One stage to lint: its instructions' last lines (`ends`), and its layers in the
    built image (`image`, only for the stage the image was built from)."""

    stage: Stage
    ends: dict[int, int]
    image: ImageMap | None = None

    def span(self, first: Instruction, last: Instruction) -> tuple[int, int]:
        return first.line, self.ends[last.line]

    def slice(self, first: Instruction, last: Instruction) -> Sequence[Instruction]:
        body = self.stage.instructions
        return body[body.index(first): body.index(last) + 1]


def commands_of(ins: Instruction) -> list[Command]:
    return split_commands(script_of(ins)) if ins.keyword == "RUN" else []


def bytes_text(n: int) -> str:
    return f"{n:,} bytes"


def lines_text(instructions: Sequence[Instruction]) -> str:
    nums = [str(i.line) for i in instructions]
    return ("line " if len(nums) == 1 else "lines ") + ", ".join(nums)


def charged(charges: Sequence[Charge], what: str, limit: int = 3) -> str:
    """`what` followed by the largest charged paths."""
    top = sorted(charges, key=lambda c: (-c.size, c.path))[:limit]
    names = ", ".join(f"{c.path} ({bytes_text(c.size)}, layer {c.layer_index})" for c in top)
    more = f" and {len(charges) - limit} more" if len(charges) > limit else ""
    return f"{what}: {names}{more}" if names else what


# --- separate RUNs for update, install and clean ------------------------------------

def _groups(runs: Sequence[Instruction], manager: Manager) -> list[list[Instruction]]:
    """RUNs that belong together: from an index update up to the RUN that cleans."""
    groups: list[list[Instruction]] = []
    current: list[Instruction] | None = None
    for ins in runs:
        roles = {r[1] for c in commands_of(ins) if (r := package_role(c)) and r[0] is manager}
        if manager.install_fetches and "install" in roles:
            roles.add("update")
        if roles and _cache_mounted(ins, manager):
            roles.add("clean")  # the cache lives in a build cache mount, not in the layer
        if not roles:
            continue
        if current is None:
            if "update" not in roles:
                continue
            current = []
            groups.append(current)
        current.append(ins)
        if "clean" in roles:
            current = None
    return groups


def _cache_mounted(ins: Instruction, manager: Manager) -> bool:
    """True when a `RUN --mount=type=cache,target=DIR` keeps one of the manager's cache
    directories out of the layer."""
    for spec in ins.flag_all("mount"):
        fields = dict(f.partition("=")[::2] for f in spec.split(","))
        target = fields.get("target") or fields.get("dst") or fields.get("destination") or ""
        if fields.get("type") == "cache" and any(under(d, target) or under(target, d)
                                                 for d in manager.cache_dirs):
            return True
    return False


def split_update_install(si: StageInput) -> list[Finding]:
    runs = [i for i in si.stage.instructions if i.keyword == "RUN"]
    out = []
    for manager in MANAGERS:
        for group in _groups(runs, manager):
            cleans = _cache_mounted(group[-1], manager) or any(
                package_role(c) == (manager, "clean") for c in commands_of(group[-1]))
            if len(group) == 1 and cleans:
                continue
            out.append(_split_finding(si, manager, group, cleans))
    return out


def _split_finding(si: StageInput, manager: Manager, group: list[Instruction],
                   cleans: bool) -> Finding:
    dirs = ", ".join(manager.cache_dirs)
    if len(group) == 1:
        message = (f"{manager.name}: the RUN on line {group[0].line} fetches the package "
                   f"index but never removes it: {dirs} stay in the image")
    else:
        tail = (f"line {group[-1].line} deletes them a layer too late" if cleans else
                "no RUN removes them")
        message = (f"{manager.name}: update, install and clean are separate RUNs "
                   f"({lines_text(group)}): the index and downloads in {dirs} are "
                   f"committed in a layer each, and {tail}")
    fix, note = combine(si.slice(group[0], group[-1]), None if cleans else manager.clean)
    finding = Finding("split-update-install", si.stage.label, tuple(i.line for i in group),
                      si.span(group[0], group[-1]), message,
                      fix, fix_note=note)
    if si.image is None:
        return finding
    charges = si.image.written(group, manager.cache_dirs)
    return costed(finding, charges, charged(charges, f"bytes of {dirs} written by "
                                             f"{lines_text(group)}"))


def costed(finding: Finding, charges: Sequence[Charge], note: str) -> Finding:
    """`finding` with its image cost: the charged copies' bytes."""
    return replace(finding, cost=sum(c.size for c in charges), cost_note=note,
                   cost_kind=IMAGE_BYTES, charges=tuple(charges))


# --- rm in a later layer than the files it deletes ----------------------------------

def _stem(target: str) -> str:
    parts = []
    for part in target.split("/"):
        if any(ch in part for ch in "*?["):
            break
        parts.append(part)
    return "/".join(parts).rstrip("/")


def _static_creators(si: StageInput, ins: Instruction, targets: list[str]
                     ) -> list[Instruction]:
    body = si.stage.instructions
    stems = [s for s in (_stem(t) for t in targets) if s.startswith("/") and s != ""]
    found = []
    for earlier in body[: body.index(ins)]:
        if earlier.keyword == "RUN":
            cmds = commands_of(earlier)
            roles = [r for c in cmds if (r := package_role(c)) and r[1] != "clean"]
            made = [s for s in stems if any(writes(c, s) for c in cmds) or any(
                s.startswith(d) or d.startswith(s) for r in roles for d in r[0].cache_dirs)]
            if any(not _removes(cmds, s) for s in made):
                found.append(earlier)
        elif earlier.keyword in ("COPY", "ADD"):
            dest = _dest(si, earlier)
            if dest and any(s == dest or s.startswith(dest.rstrip("/") + "/") for s in stems):
                found.append(earlier)
    return found


def _removes(cmds: Sequence[Command], stem: str) -> bool:
    """True when one of the commands deletes `stem` (or a directory above it) itself."""
    for target in (t for c in cmds for t in rm_targets(c)):
        top = _stem(target)
        if top and (stem == top or stem.startswith(top + "/")):
            return True
    return False


def rm_later_layer(si: StageInput) -> list[Finding]:
    out = []
    for ins in si.stage.instructions:
        targets = [t for c in commands_of(ins) for t in rm_targets(c)]
        cleans = [r[0] for c in commands_of(ins) if (r := package_role(c)) and r[1] == "clean"]
        targets += [d for m in cleans for d in m.cache_dirs]
        if not targets:
            continue
        own: list[Charge] = []
        base: list[Charge] = []
        if si.image is None:
            creators = _static_creators(si, ins, targets)
        else:  # measured: the layers whose files this one hid
            hidden = si.image.hidden_by(ins)
            own = [c for c in hidden if c.layer_index >= si.image.first_own]
            base = [c for c in hidden if c.layer_index < si.image.first_own]
            by_layer = {v: k for k, v in si.image.layer_of.items()}
            lines = {by_layer[c.layer_index] for c in own if c.layer_index in by_layer}
            creators = [i for i in si.stage.instructions if i.line in lines]
        if creators or base:
            out.append(_rm_finding(si, ins, creators, own, base))
    return out


def _rm_finding(si: StageInput, ins: Instruction, creators: list[Instruction],
                own: list[Charge], base: list[Charge]) -> Finding:
    runs = [c for c in creators if c.keyword == "RUN"]
    copies = [c for c in creators if c.keyword != "RUN"]
    notes = []
    if copies:
        notes.append(f"{lines_text(copies)} copies files that line {ins.line} deletes: leave "
                     "them out of the context (.dockerignore) or of the COPY instead")
    fix: tuple[str, ...] = ()
    if runs:
        message = (f"the RUN on line {ins.line} deletes files that {lines_text(runs)} "
                   "created: they stay in those layers (a whiteout only hides them)")
        fix, note = combine(si.slice(runs[0], ins))
        notes.append(note)
    elif copies:
        message = (f"the RUN on line {ins.line} deletes files that {lines_text(copies)} "
                   "copied in: they stay in those layers")
    else:
        message = (f"the RUN on line {ins.line} deletes files of the base image: they stay "
                   "in the base layers, the image does not get smaller")
        notes.append("or start from a smaller base")
    finding = Finding("rm-later-layer", si.stage.label, tuple(sorted(
        {i.line for i in creators} | {ins.line})), si.span((runs or copies or [ins])[0], ins),
        message, fix, fix_deletes=not creators, fix_note="; ".join(n for n in notes if n))
    if si.image is None:
        return finding
    note = charged(own, f"bytes written by earlier layers of this stage and deleted by "
                        f"line {ins.line}")
    if base:
        note += (f"; it also hides {bytes_text(sum(c.size for c in base))} of the base "
                 "image, which no rewrite of this stage removes")
    return costed(finding, own, note)


def _args(ins: Instruction) -> list[str]:
    return list(ins.exec_args) if ins.exec_args is not None else ins.rest.split()


def _dest(si: StageInput, ins: Instruction) -> str | None:
    """The absolute destination of a COPY/ADD (WORKDIR applied; variables not expanded)."""
    args = _args(ins)
    if len(args) < 2:
        return None
    return posixpath.normpath(posixpath.join(workdir_at(si.stage, ins), args[-1]))


def copies_context(ins: Instruction) -> str | None:
    """The destination as written when `ins` copies the whole context (`COPY . DEST`),
    else None."""
    args = _args(ins)
    if ins.keyword not in ("COPY", "ADD") or ins.flag("from") or len(args) < 2 or \
            not _EVERYTHING & set(args[:-1]):
        return None
    return args[-1]


def workdir_at(stage: Stage, ins: Instruction) -> str:
    """The working directory in effect at `ins` (WORKDIRs before it in the stage)."""
    cwd = "/"
    for earlier in stage.instructions:
        if earlier is ins:
            break
        if earlier.keyword == "WORKDIR":
            cwd = posixpath.normpath(posixpath.join(cwd, earlier.rest.strip()))
    return cwd


# --- many layers ---------------------------------------------------------------------

def many_layers(si: StageInput, max_layers: int) -> list[Finding]:
    body = si.stage.instructions
    made = [i for i in body if i.keyword in LAYER_KEYWORDS]
    if len(made) <= max_layers:
        return []
    groups: list[list[Instruction]] = []
    for ins in body:
        if ins.keyword == "RUN" and groups and groups[-1][-1] is _before(body, ins):
            groups[-1].append(ins)
        elif ins.keyword == "RUN":
            groups.append([ins])
    groups = [g for g in groups if len(g) > 1]
    fix: list[str] = []
    note = ""
    span = si.span(made[0], made[-1])
    if groups:
        span = si.span(groups[0][0], groups[-1][-1])
        for ins in si.slice(groups[0][0], groups[-1][-1]):
            group = next((g for g in groups if ins in g), None)
            if group is None:
                fix.append(ins.original)
            elif ins is group[0]:
                fix.extend(combine(group)[0] or [g.original for g in group])
        after = len(made) - sum(len(g) - 1 for g in groups)
        note = f"combining the adjacent RUNs leaves {after} layer{'s' if after != 1 else ''}"
    else:
        note = "no adjacent RUNs to combine: move build steps into an earlier stage"
    finding = Finding("many-layers", si.stage.label, tuple(i.line for i in made), span,
                      f"the {si.stage.label} stage makes {len(made)} layers (more than "
                      f"{max_layers}); every RUN commits a layer of its own", tuple(fix),
                      fix_note=note)
    if si.image is None:
        return [finding]
    charges = [c for g in groups for c in si.image.hidden_within(g)]
    return [costed(finding, charges, charged(charges, "bytes written and hidden again "
                                              "within the adjacent RUNs"))]


def _before(body: Sequence[Instruction], ins: Instruction) -> Instruction | None:
    k = body.index(ins)
    return body[k - 1] if k else None
