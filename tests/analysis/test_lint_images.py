"""`layerfs lint --image` on images built here (busybox base, tests/build's helper): the
seed's Part 4 proof — the bad Dockerfile's cost is the size difference of the two
images — and the costs of the other rules measured on real layers."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result
from conftest import Lab, MiB
from test_lint import SEED_BAD, SEED_GOOD

from layerfs.analysis.dive import analyze
from layerfs.analysis.lint import LintReport, lint
from layerfs.analysis.lint_fix import join_lines
from layerfs.cli.lint import lint_cmd
from layerfs.errors import NotFound

# the seed's Part 4 lab as tests/build and demo/part4_build.sh run it: `apk` replaced by
# a shell step making and deleting a cache
CACHE = "mkdir -p /var/cache/apk && dd if=/dev/zero of=/var/cache/apk/APKINDEX bs=1k count=600"
BAD = f"""FROM busybox
RUN {CACHE}
RUN echo '#!/bin/sh' > /usr/bin/curl && chmod +x /usr/bin/curl
RUN rm -rf /var/cache/apk/*
"""
GOOD = f"""FROM busybox
RUN {CACHE} && echo '#!/bin/sh' > /usr/bin/curl && chmod +x /usr/bin/curl && rm -rf /var/cache/apk/*
"""
# an alpine-like base whose `apk` stands in for alpine's (as demo/part4_build.sh's)
APK = b"""#!/bin/sh
case "$1" in
update) mkdir -p /var/cache/apk
        dd if=/dev/zero of=/var/cache/apk/APKINDEX.tar.gz bs=1k count=600 2>/dev/null ;;
add) shift; mkdir -p /var/cache/apk
     for p in "$@"; do printf '#!/bin/sh\\n' > "/usr/bin/$p"; chmod +x "/usr/bin/$p"
        dd if=/dev/zero of="/var/cache/apk/$p.apk" bs=1k count=200 2>/dev/null; done ;;
esac
"""


def ctx(lab: Lab, tag: str) -> Path:
    return lab.root / f"ctx-{tag.replace(':', '-')}"


def built(lab: Lab, tag: str, dockerfile: str, files: dict[str, bytes] | None = None) -> str:
    """Build `tag` once per store (tests of this module may share a worker's store)."""
    try:
        lab.store.image(tag)
    except NotFound:
        lab.build(tag, dockerfile, files)
    return tag


def alpine(lab: Lab) -> str:
    return built(lab, "alpine:3.18", "FROM busybox\nCOPY --chmod=755 apk /sbin/apk\n",
                 {"apk": APK})


def lint_image(lab: Lab, tag: str, dockerfile: str, **kw: object) -> LintReport:
    return lint(dockerfile, analysis=analyze(lab.store.image(tag), name=tag), image_name=tag,
                **kw)  # type: ignore[arg-type]


def sizes(lab: Lab) -> dict[str, int]:
    rows = json.loads(lab.cli("images", "--json").output)
    return {f"{r['Repository']}:{r['Tag']}": r["Size"] for r in rows}


def run_lint(lab: Lab, *args: str) -> Result:
    return CliRunner().invoke(lint_cmd, list(args), env={"LAYERFS_ROOT": str(lab.root / "store")},
                              catch_exceptions=False)


def test_seed_part4_bad_costs_the_size_difference(lab: Lab) -> None:
    built(lab, "bad-layers", BAD)
    built(lab, "good-layers", GOOD)
    report = lint_image(lab, "bad-layers", BAD)
    (finding,) = report.findings
    assert finding.rule == "rm-later-layer" and finding.span == (2, 4)
    assert join_lines(finding.fix) == GOOD.splitlines()[1]  # the fix is Dockerfile.good
    # the cost is exactly the file data the good image does not have ...
    bad_data = analyze(lab.store.image("bad-layers")).total_size
    good_data = analyze(lab.store.image("good-layers")).total_size
    assert finding.cost == bad_data - good_data == 600 * 1024
    # ... and the images' size difference within the tar metadata of the extra layers
    size = sizes(lab)
    difference = size["bad-layers:latest"] - size["good-layers:latest"]
    assert 0 <= difference - finding.cost <= 16 * 512, (difference, finding.cost)
    assert report.image_bytes == finding.cost
    assert lint_image(lab, "good-layers", GOOD).findings == ()


def test_seed_lab_as_written_with_an_apk_stand_in(lab: Lab) -> None:
    alpine(lab)
    built(lab, "seed-bad", SEED_BAD)
    built(lab, "seed-good", SEED_GOOD)
    result = run_lint(lab, str(ctx(lab, "seed-bad") / "Dockerfile"), "--image", "seed-bad",
                      "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    (finding,) = data["findings"]  # the rm-later finding with the same fix is folded in
    assert finding["rule"] == "split-update-install" and finding["lines"] == [2, 3, 4]
    assert finding["fix"] == [SEED_GOOD.splitlines()[1]]
    assert finding["cost"] == data["image_bytes"] == (600 + 200) * 1024
    assert "/var/cache/apk/APKINDEX.tar.gz (614,400 bytes, layer 2)" in finding["cost_note"]
    good = run_lint(lab, str(ctx(lab, "seed-good") / "Dockerfile"), "--image", "seed-good",
                    "--exit-code")
    assert good.exit_code == 0 and good.output.startswith("0 findings"), good.output


def test_copy_order_and_dockerignore_costs(lab: Lab) -> None:
    alpine(lab)
    dockerfile = ('FROM alpine:3.18\nWORKDIR /app\nCOPY . .\nRUN apk add pip-packages\n'
                  'CMD ["python", "app.py"]\n')
    files = {"requirements.txt": b"flask==3.0\n", "app.py": b"print('v1')\n",
             "debug.log": b"x" * (6 * MiB)}
    built(lab, "app:bad", dockerfile, files)
    context = ctx(lab, "app:bad")
    report = lint_image(lab, "app:bad", dockerfile, context_dir=str(context))
    order, ignore = report.findings
    assert order.rule == "copy-before-install" and order.span == (3, 4)
    assert order.fix == ("RUN apk add pip-packages", "COPY . .")
    run_layer = analyze(lab.store.image("app:bad")).layers[-1]
    assert order.cost == run_layer.size == 200 * 1024 + len(b"#!/bin/sh\n")
    assert order.cost_kind == "rebuild" and not order.charges
    assert ignore.rule == "no-dockerignore" and ignore.fix == ("*.log",)
    assert ignore.cost == 6 * MiB and report.image_bytes == 6 * MiB
    assert report.context_bytes == sum(len(v) for v in files.values()) + len(dockerfile)
    text = run_lint(lab, str(context / "Dockerfile"), "--image", "app:bad", "--exit-code")
    assert text.exit_code == 1
    assert "fix (.dockerignore, a new file):\n    *.log" in text.output
    assert "cost: 6.29MB (6,291,456 bytes) in the image" in text.output
