"""`layerfs lint DOCKERFILE`: the seed's common mistakes, with their measured costs and fixes."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from layerfs.analysis.dive import analyze
from layerfs.analysis.lint import LintOptions, LintReport, lint
from layerfs.analysis.lint_model import REBUILD_BYTES, Finding
from layerfs.cli._common import emit_json, human_size
from layerfs.cli._source import opened, source_options


def _cost(f: Finding) -> str:
    if f.cost is None:
        return ""
    what = "rebuilt on every context change" if f.cost_kind == REBUILD_BYTES else "in the image"
    return f"cost: {human_size(f.cost)} ({f.cost:,} bytes) {what}: {f.cost_note}"


def _where(name: str, f: Finding) -> str:
    if f.span == (0, 0):
        return f"{name}:{','.join(map(str, f.lines))}" if f.lines else name
    first, last = f.span
    return f"{name}:{first}" + (f"-{last}" if last != first else "")


def _print(report: LintReport) -> None:
    for f in report.findings:
        click.echo(f"{_where(report.dockerfile, f)}: {f.rule} (seed: {f.mistake})")
        click.echo(f"  {f.message}")
        if f.cost is not None:
            click.echo(f"  {_cost(f)}")
        if f.fix:
            span = "a new file" if f.fix_file != "Dockerfile" else (
                f"lines {f.span[0]}-{f.span[1]}" if f.span[1] != f.span[0] else f"line {f.span[0]}")
            click.echo(f"  fix ({f.fix_file}, {span}):")
            for line in f.fix:
                click.echo(f"    {line}")
        elif f.fix_deletes:
            click.echo(f"  fix: delete line{'s' if f.span[1] != f.span[0] else ''} "
                       f"{f.span[0]}" + (f"-{f.span[1]}" if f.span[1] != f.span[0] else ""))
        if f.fix_note:
            click.echo(f"  note: {f.fix_note}")
        click.echo("")
    count = len(report.findings)
    summary = f"{count} finding{'s' if count != 1 else ''}"
    if report.image is not None and report.image_size is not None:
        saved = report.image_bytes or 0
        summary += (f"; the fixes remove {human_size(saved)} ({saved:,} bytes, each copy once) "
                    f"of {report.image}'s {human_size(report.image_size)}")
    if report.context_bytes is not None:
        summary += f"; context {human_size(report.context_bytes)}"
    click.echo(summary)


@click.command("lint")
@click.argument("dockerfile", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--image", metavar="IMAGE", default=None,
              help="The image built from DOCKERFILE: measure what each mistake costs in it.")
@click.option("--context", "context_dir", metavar="DIR", default=None,
              help="The build context to measure (default: DOCKERFILE's directory).")
@click.option("--target", metavar="STAGE", default=None,
              help="The stage IMAGE was built from (default: the last).")
@click.option("--max-layers", type=click.IntRange(min=1), default=LintOptions.max_layers,
              show_default=True, help="many-layers: more layers than this in one stage.")
@click.option("--context-threshold", metavar="BYTES", type=click.IntRange(min=0),
              default=LintOptions.context_threshold, show_default=True,
              help="no-dockerignore: a context at least this large.")
@click.option("--exit-code", is_flag=True, help="Exit with status 1 when there is a finding.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@source_options
def lint_cmd(dockerfile: str, image: str | None, context_dir: str | None, target: str | None,
             max_layers: int, context_threshold: int, exit_code: bool, as_json: bool,
             **where: Any) -> None:
    """Check DOCKERFILE for the seed's common mistakes: update, install and clean in
    separate RUNs; rm in a later layer than the files it deletes; COPY of everything
    before the dependency install; no .dockerignore with a large context; many layers.

    Each finding names its lines and gives the rewritten lines; with --image (the image
    built from it, any source `layerfs dive` reads) it also gives the bytes the mistake
    costs there, measured.

    \b
    Examples:
      layerfs lint Dockerfile
      layerfs lint Dockerfile.bad --image bad-layers --json
      layerfs lint Dockerfile --image docker-archive:app.tar --context .
    """
    if dockerfile == "-":
        text, name = sys.stdin.read(), "Dockerfile"
    else:
        with open(dockerfile, encoding="utf-8", errors="surrogateescape") as f:
            text, name = f.read(), dockerfile
        if context_dir is None:
            context_dir = os.path.dirname(os.path.abspath(dockerfile))
    analysis = None
    if image is not None:
        with opened(image, **where) as img:
            analysis = analyze(img, name=image)
    report = lint(text, name=name, context_dir=context_dir,
                  dockerfile_path=None if dockerfile == "-" else dockerfile,
                  analysis=analysis, image_name=image,
                  options=LintOptions(max_layers, context_threshold, target))
    if as_json:
        emit_json(report.to_dict())
    else:
        _print(report)
    if exit_code and report.findings:
        sys.exit(1)


COMMANDS = [lint_cmd]
