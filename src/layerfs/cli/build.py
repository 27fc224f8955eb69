"""`layerfs build`: a Dockerfile → an image in the local store, with an explaining cache."""

from __future__ import annotations

import os
import sys

import click

from layerfs.build.args import parse_build_args
from layerfs.build.builder import BuildOptions, build
from layerfs.build.explain import StepReport
from layerfs.cli._common import emit_json, emit_table, json_option
from layerfs.cli._store import open_store, root_option


def _plain(report: StepReport, explain: bool) -> None:
    line = f"#{report.index} [{report.stage}] {report.instruction}"
    status = {"HIT": "CACHED", "ERROR": "ERROR"}.get(report.status, f"DONE {report.seconds:.1f}s")
    click.echo(f"{line}  {status}")
    if explain and report.status == "MISS" and report.reason:
        click.echo(f"#{report.index}   miss: {report.reason}")


@click.command("build")
@click.argument("context", type=click.Path(exists=True, file_okay=False))
@click.option("-f", "--file", "dockerfile", metavar="FILE",
              help="The Dockerfile (default: CONTEXT/Dockerfile).")
@click.option("-t", "--tag", "tags", multiple=True, metavar="NAME", help="Name the image.")
@click.option("--build-arg", "build_args", multiple=True, metavar="K=V",
              help="Set a build arg (K alone: from the environment).")
@click.option("--target", metavar="STAGE", help="Build this stage (and what it needs).")
@click.option("--no-cache", is_flag=True, help="Run every step (results are still cached).")
@click.option("--squash", is_flag=True, help="Merge the layers above the base into one.")
@click.option("--explain", is_flag=True, help="Say for every step HIT or MISS, and why.")
@click.option("--network", type=click.Choice(["none", "host"]), default="none",
              show_default=True, help="Network of RUN steps (never a bridge).")
@click.option("--progress", type=click.Choice(["plain", "tty", "auto", "quiet"]),
              default="auto", help="Output style.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID.")
@json_option
@root_option
def build_cmd(context: str, dockerfile: str | None, tags: tuple[str, ...],
              build_args: tuple[str, ...], target: str | None, no_cache: bool, squash: bool,
              explain: bool, network: str, progress: str, quiet: bool, as_json: bool,
              root: str | None) -> None:
    """Build an image from a Dockerfile; the context is read in place, never copied.

    Every step is looked up in the cache (key: parent chain, instruction, build args in
    scope, content and mode of the files COPY/ADD select). With --explain each step
    says HIT or MISS and, for a miss, which file or arg changed, or that its parent
    missed. With SOURCE_DATE_EPOCH set, builds are reproducible.

    \b
    Example:
      layerfs build -t app:1 --build-arg VERSION=2 .
      layerfs build --explain --json -f Dockerfile.good .
    """
    options = BuildOptions(
        context=os.path.abspath(context),
        dockerfile=os.path.abspath(dockerfile) if dockerfile else None,
        tags=tags,
        build_args=parse_build_args(build_args),
        target=target,
        no_cache=no_cache,
        squash=squash,
        network=network,
    )
    show = not (as_json or quiet or progress == "quiet")

    def on_step(report: StepReport) -> None:
        if show:
            _plain(report, explain)

    def on_output(chunk: bytes) -> None:
        if show:
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()

    with open_store(root) as store:
        result = build(store, options, on_step=on_step, on_output=on_output)
    for warning in result.warnings:
        click.echo(f"WARNING: {warning}", err=True)
    if as_json:
        emit_json({"id": str(result.image.id), "tags": list(result.image.tags),
                   "steps": [r.to_dict() for r in result.steps]})
        return
    if quiet:
        click.echo(str(result.image.id))
        return
    if explain:
        emit_table([{"step": r.index, "status": r.status, "instruction": r.instruction[:60],
                     "reason": r.reason} for r in result.steps],
                   ["step", "status", "instruction", "reason"])
    click.echo(f"Successfully built {result.image.id.short}")
    for tag in result.image.tags:
        click.echo(f"Successfully tagged {tag}")


COMMANDS = [build_cmd]
