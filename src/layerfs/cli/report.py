"""`layerfs report IMAGE -o report.html`: the analysis of an image as one HTML page."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import click

from layerfs.analysis.dive import analyze
from layerfs.analysis.lint import LintOptions, lint
from layerfs.analysis.report import render
from layerfs.cli._source import opened, source_options


def _write(path: str, text: str) -> None:
    """Write `text` to `path` whole or not at all (a temp file renamed over it)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


@click.command("report")
@click.argument("image")
@click.option("-o", "--output", metavar="FILE", default="report.html", show_default=True,
              help="Where to write the page.")
@click.option("--dockerfile", metavar="FILE", default=None,
              help="The Dockerfile IMAGE was built from: add its lint findings, costed.")
@click.option("--context", "context_dir", metavar="DIR", default=None,
              help="With --dockerfile: the build context (default: the Dockerfile's dir).")
@click.option("--target", metavar="STAGE", default=None,
              help="With --dockerfile: the stage IMAGE was built from (default: the last).")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many waste items to list.")
@click.option("--max-changes", type=click.IntRange(min=1), default=2000, show_default=True,
              help="At most this many file changes per layer (the largest).")
@source_options
def report_cmd(image: str, output: str, dockerfile: str | None, context_dir: str | None,
               target: str | None, top: int, max_changes: int, **where: Any) -> None:
    """Write one self-contained HTML page about IMAGE: a bar chart of the layer sizes
    with the waste marked, the efficiency, the top waste items explained and every
    layer's file changes (collapsible). The page loads nothing from anywhere.

    \b
    Examples:
      layerfs report bad-layers -o bad.html
      layerfs report bad-layers -o bad.html --dockerfile Dockerfile.bad
      layerfs report docker-archive:app.tar -o app.html
    """
    with opened(image, **where) as img:
        analysis = analyze(img, name=image)
    findings = None
    if dockerfile is not None:
        with open(dockerfile, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
        findings = lint(text, name=dockerfile, analysis=analysis, image_name=image,
                        context_dir=context_dir or os.path.dirname(os.path.abspath(dockerfile)),
                        dockerfile_path=dockerfile, options=LintOptions(target=target))
    _write(output, render(analysis, lint=findings, top=top, max_changes=max_changes))
    click.echo(os.path.abspath(output))


COMMANDS = [report_cmd]
