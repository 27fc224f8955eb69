"""The values of `layerfs lint`: findings (one mistake of the seed's table each, with
its Dockerfile lines, its measured cost and the rewritten lines), the options and the
report. All frozen; `to_dict()` is the `--json` form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: rule id -> the seed's "Common Mistakes" row it checks
RULES: dict[str, str] = {
    "split-update-install": "Multiple RUN commands",
    "rm-later-layer": "rm in separate layer",
    "copy-before-install": "Wrong COPY order",
    "no-dockerignore": "Not using .dockerignore",
    "many-layers": "Multiple RUN commands",
}

#: what a finding's `cost` counts
IMAGE_BYTES = "image"      # bytes the image holds that the fix removes
REBUILD_BYTES = "rebuild"  # bytes of layers rebuilt on every change of the context


@dataclass(frozen=True, slots=True)
class Charge:
    """One copy of a file the image pays for: layer index, path, bytes. Findings that
    blame the same copy share it; the report's total counts each copy once."""

    layer_index: int
    path: str
    size: int


@dataclass(frozen=True)
class Finding:
    """One mistake.

    `lines`: the first line of every instruction involved (1-based); `span`: the first
    and last Dockerfile lines the finding is about, which `fix` replaces ((0, 0) when
    the fix is for another file); `fix` empty: no automatic rewrite (`fix_note` says
    why), unless `fix_deletes` (the fix is to delete the span's lines); `fix_file` names
    the file the fix is for ("Dockerfile" or ".dockerignore", whose fix is its text).
    `cost`: bytes measured on the built image (None when no image was given, or the rule
    has nothing to measure there);
    `cost_kind` says what the bytes are; `charges` the copies behind an image cost.
    """

    rule: str
    stage: str
    lines: tuple[int, ...]
    span: tuple[int, int]
    message: str
    fix: tuple[str, ...]
    fix_file: str = "Dockerfile"
    fix_deletes: bool = False
    fix_note: str = ""
    cost: int | None = None
    cost_kind: str = IMAGE_BYTES
    cost_note: str = ""
    charges: tuple[Charge, ...] = field(default=(), repr=False)

    @property
    def mistake(self) -> str:
        return RULES[self.rule]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "mistake": self.mistake, "stage": self.stage,
            "lines": list(self.lines), "span": list(self.span), "message": self.message,
            "fix": list(self.fix), "fix_file": self.fix_file, "fix_deletes": self.fix_deletes,
            "fix_note": self.fix_note,
            "cost": self.cost, "cost_kind": self.cost_kind, "cost_note": self.cost_note,
        }


@dataclass(frozen=True)
class LintOptions:
    """Thresholds: a stage making more than `max_layers` layers; a context of at least
    `context_threshold` bytes without an ignore file. `target`: the stage the image was
    built from (None: the last)."""

    max_layers: int = 10
    context_threshold: int = 5_000_000
    target: str | None = None


@dataclass(frozen=True)
class LintReport:
    """All findings of one Dockerfile, in line order.

    `image`: the image the costs were measured on (None: not measured); `image_bytes`:
    the image bytes all fixes together remove, each wasted copy counted once even when
    several findings blame it; `context_bytes`: the context's size (None when no context
    was read).
    """

    dockerfile: str
    findings: tuple[Finding, ...]
    image: str | None = None
    image_size: int | None = None
    context_bytes: int | None = None

    @property
    def image_bytes(self) -> int | None:
        if self.image is None:
            return None
        return sum(c.size for c in {c for f in self.findings for c in f.charges})

    def to_dict(self) -> dict[str, Any]:
        return {
            "dockerfile": self.dockerfile, "image": self.image,
            "image_size": self.image_size, "image_bytes": self.image_bytes,
            "context_bytes": self.context_bytes,
            "findings": [f.to_dict() for f in self.findings],
        }
