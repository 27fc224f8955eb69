"""`layerfs lint`: the seed's "Common Mistakes" table as rules over a Dockerfile, each
finding with its lines, the bytes it costs measured on the built image, and the
rewritten lines that fix it.

```python
from layerfs.analysis.dive import analyze
from layerfs.analysis.lint import lint
report = lint(open("Dockerfile").read(), context_dir=".",
              analysis=analyze(store.image("bad-layers")), image_name="bad-layers")
for f in report.findings:
    print(f.span, f.rule, f.cost, f.fix)
```

Rules (lint_model.RULES): `split-update-install` (a package index update, the install
and the cleanup in separate RUNs, or no cleanup), `rm-later-layer` (a RUN deleting files
an earlier layer made), `copy-before-install` (`COPY .` before the dependency install),
`no-dockerignore` (a large context and no ignore file; needs the context),
`many-layers` (a stage making more layers than a threshold). Costs are measured on the
stage the image was built from (the last, or `LintOptions.target`); every stage is
linted. Nothing is written; the result depends only on the inputs.
"""

from __future__ import annotations

from layerfs.analysis.lint_context import no_dockerignore, read_context
from layerfs.analysis.lint_costs import map_stage
from layerfs.analysis.lint_fix import instruction_ends
from layerfs.analysis.lint_model import Finding, LintOptions, LintReport
from layerfs.analysis.lint_order import copy_before_install
from layerfs.analysis.lint_rules import (
    StageInput,
    many_layers,
    rm_later_layer,
    split_update_install,
)
from layerfs.analysis.model import ImageAnalysis
from layerfs.build.parser import parse
from layerfs.build.stages import split
from layerfs.errors import InvalidOption

__all__ = ["Finding", "LintOptions", "LintReport", "lint"]


def lint(text: str, *, name: str = "Dockerfile", context_dir: str | None = None,
         dockerfile_path: str | None = None, analysis: ImageAnalysis | None = None,
         image_name: str | None = None, options: LintOptions | None = None) -> LintReport:
    """Lint Dockerfile `text` (named `name` in messages).

    `context_dir`: the build context to measure (the .dockerignore rule needs it; a
    `<dockerfile_path>.dockerignore` counts as an ignore file); `analysis`: the built
    image's analysis, for the costs (InvalidInput when its layers cannot come from this
    Dockerfile). A syntax error raises the parser's DockerfileError (file:line:column).
    """
    opts = options or LintOptions()
    df = parse(text, name)
    plan = split(df)
    target = plan.find(opts.target) if opts.target else plan.stages[-1]
    if target is None:
        raise InvalidOption(f"--target {opts.target}: no such stage in {name}")
    ends = instruction_ends(text, df)
    label = image_name or (analysis.name if analysis else None) or "the image"
    image = map_stage(analysis, target, label) if analysis is not None else None
    context = read_context(context_dir, dockerfile_path) if context_dir else None
    findings: list[Finding] = []
    inputs = [StageInput(s, ends, image if s is target else None) for s in plan.stages]
    for si in inputs:
        findings += split_update_install(si)
        findings += rm_later_layer(si)
        findings += copy_before_install(si, context)
        findings += many_layers(si, opts.max_layers)
    if context is not None:
        findings += no_dockerignore(context, inputs, opts.context_threshold)
    findings = _dedupe(findings)
    findings.sort(key=lambda f: (min(f.lines, default=0), f.rule))
    return LintReport(name, tuple(findings), label if analysis is not None else None,
                      analysis.total_size if analysis is not None else None,
                      context.size if context is not None else None)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """Drop an rm-later-layer finding that a split-update-install finding already makes
    (same lines, same fix: the seed's `RUN apk update` / `add` / `rm` lab)."""
    split_fixes = {(f.span, f.fix) for f in findings if f.rule == "split-update-install"}
    return [f for f in findings
            if f.rule != "rm-later-layer" or (f.span, f.fix) not in split_fixes]
