"""Why a step hit or missed the cache, in words a person can act on.

A miss is explained by comparing the step's inputs with the steps recorded on the same
parent key (the most recently used first): which file changed (path, and whether its
content, mode or owner), which file was added or removed, which build arg changed (name,
old → new), or how the instruction text changed. When the parent step missed, no earlier
step can share its parent: the reason is then "parent step missed".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from layerfs.build.cache import BuildCache, StepInputs

HIT, MISS, ERROR = "HIT", "MISS", "ERROR"  # ERROR: the step ran and failed


@dataclass(frozen=True)
class StepReport:
    """One step of a build: where, what, HIT or MISS, and why (for a miss)."""

    stage: str
    index: int
    instruction: str
    status: str
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "step": self.index, "instruction": self.instruction,
                "status": self.status, "reason": self.reason, "details": dict(self.details),
                "seconds": round(self.seconds, 3)}


def _arg_of(text: str) -> tuple[str, str | None]:
    name, eq, value = text.removeprefix("ARG ").partition("=")
    return name, value if eq else None


def _describe_file(old: str | None, new: str | None) -> str:
    if old is None:
        return "added"
    if new is None:
        return "removed"
    o, n = old.split(" ", 3), new.split(" ", 3)
    if o[0] != n[0]:
        return f"type changed ({o[0]} -> {n[0]})"
    parts = []
    if o[3:] != n[3:]:
        parts.append("content")
    if o[1] != n[1]:
        parts.append(f"mode {o[1]} -> {n[1]}")
    if o[2] != n[2]:
        parts.append(f"owner {o[2]} -> {n[2]}")
    return "changed (" + ", ".join(parts) + ")"


def compare(old: StepInputs, new: StepInputs) -> tuple[str, dict[str, Any]]:
    """The first difference between two steps on the same parent, as (reason, details)."""
    if old.kind != new.kind or (old.kind != "ARG" and old.text != new.text):
        if old.kind == "FROM":
            return (f"base image changed: {old.text} -> {new.text}",
                    {"base": {"old": old.text, "new": new.text}})
        return (f"instruction changed: {old.text!r} -> {new.text!r}",
                {"instruction": {"old": old.text, "new": new.text}})
    if old.kind == "ARG" and old.text != new.text:
        (name, before), (_, after) = _arg_of(old.text), _arg_of(new.text)
        return (f"arg {name} changed: {before} -> {after}",
                {"arg": name, "old": before, "new": after})
    for name in sorted(set(old.scope) | set(new.scope)):
        before, after = old.scope.get(name), new.scope.get(name)
        if before != after:
            return (f"arg {name} changed: {before} -> {after}",
                    {"arg": name, "old": before, "new": after})
    changed = [p for p in sorted(set(old.files) | set(new.files))
               if old.files.get(p) != new.files.get(p)]
    if changed:
        whats = [(p, _describe_file(old.files.get(p), new.files.get(p))) for p in changed[:50]]
        reason = "; ".join(f"file {p} {what}" for p, what in whats[:3])
        if len(changed) > 3:
            reason += f" (and {len(changed) - 3} more)"
        return (reason, {"file": whats[0][0], "change": whats[0][1],
                         "files": [{"path": p, "change": w} for p, w in whats]})
    return ("the cached result is gone (its layers were removed)", {})


def explain_miss(cache: BuildCache, inputs: StepInputs, parent_missed: bool
                 ) -> tuple[str, dict[str, Any]]:
    """Why `inputs` was not in the cache."""
    if not cache.enabled:
        return "--no-cache", {}
    if parent_missed:
        return "parent step missed", {"parent": "missed"}
    candidates = cache.earlier(inputs.parent)
    if not candidates:
        if inputs.kind == "FROM":
            return "first build from this base", {}
        return "no earlier build of this step", {}
    same_kind = [c for c in candidates if c.kind == inputs.kind]
    best = next((c for c in same_kind if c.text == inputs.text), None)
    if best is None and inputs.kind == "ARG":
        name = _arg_of(inputs.text)[0]
        best = next((c for c in same_kind if _arg_of(c.text)[0] == name), None)
    best = best or (same_kind[0] if same_kind else candidates[0])
    if best.key() == inputs.key():
        return "the cached result is gone (its layers were removed)", {}
    return compare(best, inputs)
