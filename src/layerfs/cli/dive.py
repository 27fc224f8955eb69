"""`layerfs dive IMAGE`: where an image's bytes go, layer by layer, and what is wasted."""

from __future__ import annotations

import os
import sys

import click

from layerfs.analysis import ci
from layerfs.analysis.dive import analyze
from layerfs.analysis.model import ImageAnalysis
from layerfs.cli._common import emit_json, emit_table, human_size
from layerfs.cli._source import opened, source_options


def _print(a: ImageAnalysis, changes: bool, top: int) -> None:
    rows = [{"layer": la.index, "size": human_size(la.size),
             "changes": " ".join(f"{k}{v}" for k, v in la.counts().items()),
             "wasted": human_size(la.wasted_bytes) if la.wasted_bytes else "",
             "created by": " ".join(la.created_by.split())[:70]} for la in a.layers]
    emit_table(rows, ["layer", "size", "changes", "wasted", "created by"])
    if changes:
        for la in a.layers:
            click.echo(f"\nlayer {la.index}:")
            for c in la.changes:
                click.echo(f"  {c.kind} {human_size(c.size):>8}  {c.path}{'/' if c.is_dir else ''}")
    click.echo(f"\nTotal image size: {human_size(a.total_size)} ({a.total_size} bytes)")
    click.echo(f"Potential wasted space: {human_size(a.wasted_bytes)} ({a.wasted_bytes} bytes)")
    click.echo(f"Image efficiency score: {100 * a.efficiency:.1f} %")
    click.echo(f"User wasted: {a.user_wasted_percent:.1f} % of {human_size(a.user_size)}")
    if a.waste:
        click.echo("")
        emit_table([{"copies": len(w.copies), "wasted": human_size(w.total_bytes), "path": w.path}
                    for w in a.waste[:top]], ["copies", "wasted", "path"])
        for w in a.waste[:top]:
            click.echo(f"  {w.explanation}")


def _rules(config: str | None, values: dict[str, str | None]) -> ci.CiRules:
    rules = ci.CiRules()
    path = config if config is not None else ".dive-ci"
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            rules = ci.CiRules.from_file(f.read())
    elif config is not None:
        raise click.BadParameter(f"{config}: no such file", param_hint="--ci-config")
    return rules.replace(**values)


@click.command("dive")
@click.argument("image")
@click.option("--ci", "ci_mode", is_flag=True,
              help="No tables of files: check the CI rules, exit 1 when one fails.")
@click.option("--ci-config", metavar="FILE", default=None,
              help="A .dive-ci YAML with a rules: block (default: ./.dive-ci if present).")
@click.option("--lowestEfficiency", "lowest_efficiency", metavar="RATIO", default=None)
@click.option("--highestWastedBytes", "highest_wasted_bytes", metavar="BYTES", default=None)
@click.option("--highestUserWastedPercent", "highest_user_wasted_percent", metavar="RATIO",
              default=None)
@click.option("--minimumWastedBytes", "minimum_wasted_bytes", metavar="BYTES", default=None,
              help="Floor: ratio rules pass when less is wasted (default 10MB).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole analysis as JSON.")
@click.option("--changes", is_flag=True, help="List every layer's file changes.")
@click.option("--top", type=click.IntRange(min=0), default=10, show_default=True,
              help="How many waste items to show.")
@source_options
def dive_cmd(image: str, ci_mode: bool, ci_config: str | None, lowest_efficiency: str | None,
             highest_wasted_bytes: str | None, highest_user_wasted_percent: str | None,
             minimum_wasted_bytes: str | None, as_json: bool, changes: bool, top: int,
             source: str | None, storage_root: str | None, tls_verify: bool, verify: bool,
             root: str | None) -> None:
    """Analyse IMAGE: per layer its instruction, size and changes (A/M/D), the wasted
    bytes (each hidden copy once, each explained) and an efficiency score.

    IMAGE is a store name or any transport name; engines' storage is read directly.

    \b
    Examples:
      layerfs dive busybox
      layerfs dive --ci docker-archive:app.tar
      layerfs dive --source docker-archive app.tar --json
      layerfs dive containers-storage:[/var/lib/containers/storage]localhost/app
      layerfs dive docker-overlay2:/var/lib/docker:app:latest
    """
    with opened(image, source, storage_root, tls_verify, root, verify) as img:
        analysis = analyze(img, name=image)
    results: list[ci.RuleResult] = []
    if ci_mode:
        results = ci.evaluate(analysis, _rules(ci_config, {
            "lowest_efficiency": lowest_efficiency, "highest_wasted_bytes": highest_wasted_bytes,
            "highest_user_wasted_percent": highest_user_wasted_percent,
            "minimum_wasted_bytes": minimum_wasted_bytes}))
    if as_json:
        data = analysis.to_dict()
        if ci_mode:
            data["ci"] = {"passed": ci.passed(results),
                          "rules": [r.__dict__ for r in results]}
        emit_json(data)
    elif ci_mode:
        click.echo(f"efficiency: {100 * analysis.efficiency:.4f} %")
        wasted = analysis.wasted_bytes
        click.echo(f"wastedBytes: {wasted} bytes ({human_size(wasted)})")
        click.echo(f"userWastedPercent: {analysis.user_wasted_percent:.4f} %")
        for w in analysis.waste[:top]:
            click.echo(f"  {w.explanation}")
        for r in results:
            click.echo(f"  {r.status}: {r.rule}: {r.message}")
        click.echo("Result: " + ("PASS" if ci.passed(results) else "FAIL"))
    else:
        _print(analysis, changes, top)
    if ci_mode and not ci.passed(results):
        sys.exit(1)


COMMANDS = [dive_cmd]
