"""`layerfs lint` without builds: the rules on the seed's Dockerfiles, the rewritten lines,
the context rule on a context made here, and costs on analyses of layer tars made in
memory (the built-image proofs are in test_lint_images.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from analysis_tars import FakeLayer, Member, listing
from click.testing import CliRunner

from layerfs.analysis.dive import analyze_listings
from layerfs.analysis.layers import LayerStep
from layerfs.analysis.lint import LintOptions, lint
from layerfs.analysis.lint_fix import join_lines
from layerfs.analysis.lint_shell import manifests, package_role, split_commands, squeeze
from layerfs.analysis.model import ImageAnalysis
from layerfs.cli.lint import lint_cmd
from layerfs.errors import InvalidInput

SEED_BAD = """FROM alpine:3.18
RUN apk update
RUN apk add curl
RUN rm -rf /var/cache/apk/*
"""
SEED_GOOD = """FROM alpine:3.18
RUN apk update && apk add curl && rm -rf /var/cache/apk/*
"""
SEED_APT = """FROM ubuntu:22.04
RUN apt-get update
RUN apt-get install -y python3
RUN apt-get install -y python3-pip
RUN rm -rf /var/lib/apt/lists/* # Too late! Previous layers have it
"""
SEED_APT_GOOD = """FROM ubuntu:22.04
RUN apt-get update && \\
    apt-get install -y python3 python3-pip && \\
    rm -rf /var/lib/apt/lists/* # Same layer, so files are never stored
"""
SEED_COPY_BAD = """FROM python:3.11
COPY . /app
RUN pip install -r /app/requirements.txt
"""
SEED_COPY_GOOD = """FROM python:3.11
COPY requirements.txt /app/
RUN pip install -r /app/requirements.txt
COPY . /app
"""


def rules(text: str, **kw: object) -> list[str]:
    return [f.rule for f in lint(text, **kw).findings]  # type: ignore[arg-type]


def test_seed_lab_bad_is_flagged_and_fixed_into_the_good_one() -> None:
    (finding,) = lint(SEED_BAD).findings
    assert finding.rule == "split-update-install"
    assert finding.lines == (2, 3, 4) and finding.span == (2, 4)
    assert finding.fix == ("RUN apk update && apk add curl && rm -rf /var/cache/apk/*",)
    assert "line 4 deletes them a layer too late" in finding.message
    assert finding.cost is None  # no image: nothing measured
    assert rules(SEED_GOOD) == []


def test_seed_apt_scenario_fix_drops_the_comment_and_keeps_the_order() -> None:
    (finding,) = lint(SEED_APT).findings
    assert finding.rule == "split-update-install" and finding.span == (2, 5)
    assert join_lines(finding.fix) == (
        "RUN apt-get update && apt-get install -y python3 && "
        "apt-get install -y python3-pip && rm -rf /var/lib/apt/lists/*")
    assert rules(SEED_APT_GOOD) == []


def test_install_without_cleanup_gets_the_cleanup_appended() -> None:
    (finding,) = lint("FROM debian\nRUN apt-get update && apt-get install -y curl\n").findings
    assert finding.rule == "split-update-install" and "never removes it" in finding.message
    assert finding.fix == ("RUN apt-get update && apt-get install -y curl && "
                           "rm -rf /var/lib/apt/lists/*",)
    assert rules("FROM alpine\nRUN apk add --no-cache curl\n") == []
    assert rules("FROM fedora\nRUN dnf install -y curl && dnf clean all\n") == []
    assert rules("FROM fedora\nRUN dnf install -y curl\n") == ["split-update-install"]


def test_rm_in_a_later_layer_of_files_a_run_created() -> None:
    text = ("FROM busybox\nRUN mkdir -p /build && dd if=/dev/zero of=/build/big bs=1k count=9\n"
            "ENV X=1\nRUN cp /build/big /usr/bin/tool\nRUN rm -rf /build\n")
    (finding,) = lint(text).findings
    assert finding.rule == "rm-later-layer" and finding.lines == (2, 5)
    assert finding.span == (2, 5)
    assert finding.fix == (
        "ENV X=1",
        "RUN mkdir -p /build && \\",
        "    dd if=/dev/zero of=/build/big bs=1k count=9 && \\",
        "    cp /build/big /usr/bin/tool && \\",
        "    rm -rf /build",
    )
    assert "line 3 moved before the combined RUN" in finding.fix_note
    # deleting in the same RUN is what the fix does: nothing to say, nor about a later
    # rm of what that RUN already removed
    assert rules("FROM busybox\nRUN mkdir /b && touch /b/x && rm -rf /b\nRUN rm -rf /b\n") == []
    # a cache mount keeps the package cache out of the layer
    assert rules("FROM alpine\nRUN --mount=type=cache,target=/var/cache/apk apk update && "
                 "apk add curl\n") == []


def test_combined_run_keeps_a_cd_inside_its_own_script() -> None:
    text = "FROM busybox\nRUN cd /tmp && touch /tmp/x\nRUN rm -f /tmp/x\n"
    (finding,) = lint(text).findings
    assert finding.fix == ("RUN (cd /tmp && touch /tmp/x) && rm -f /tmp/x",)


def test_copy_order_seed_example() -> None:
    (finding,) = lint(SEED_COPY_BAD).findings
    assert finding.rule == "copy-before-install" and finding.span == (2, 3)
    assert finding.fix == ("COPY requirements.txt /app/",
                           "RUN pip install -r /app/requirements.txt", "COPY . /app")
    assert rules(SEED_COPY_GOOD) == []


def test_copy_order_with_workdir_and_system_packages() -> None:
    text = 'FROM alpine\nWORKDIR /app\nCOPY . .\nRUN apk add pip-packages\nCMD ["python"]\n'
    (finding,) = lint(text).findings
    assert finding.fix == ("RUN apk add pip-packages", "COPY . .")  # nothing to copy first
    npm = "FROM node\nWORKDIR /src\nCOPY . .\nRUN npm ci\nRUN npm run build\n"
    (finding,) = lint(npm).findings
    assert finding.fix == ("COPY package.json package-lock.json ./", "RUN npm ci", "COPY . .")
    # a RUN that needs the code stops the search; installing the context itself too
    assert rules("FROM node\nCOPY . .\nRUN make\nRUN npm ci\n") == []
    assert rules("FROM python\nCOPY . /src\nRUN pip install /src\n") == []


def test_many_layers(tmp_path: Path) -> None:
    runs = "".join(f"RUN touch /f{i}\n" for i in range(12))
    text = f"FROM busybox\nCOPY a /a\n{runs}"
    (finding,) = lint(text).findings
    assert finding.rule == "many-layers" and len(finding.lines) == 13
    assert finding.span == (3, 14)
    assert join_lines(finding.fix) == "RUN " + " && ".join(f"touch /f{i}" for i in range(12))
    assert "leaves 2 layers" in finding.fix_note
    assert rules(text, options=LintOptions(max_layers=13)) == []


def test_no_dockerignore_measures_the_context(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "pack").write_bytes(b"p" * 1000)
    (tmp_path / "debug.log").write_bytes(b"x" * 3_000_000)
    (tmp_path / "app.py").write_text("print(1)\n")
    text = "FROM busybox\nCOPY . /app\n"
    small = LintOptions(context_threshold=3_000_000)
    (finding,) = lint(text, context_dir=str(tmp_path), options=small).findings
    assert finding.rule == "no-dockerignore" and finding.fix_file == ".dockerignore"
    assert finding.fix == (".git", "*.log") and finding.lines == (2,)
    assert "3,001,009 bytes in 3 files" in finding.message
    assert "keeps 3,001,000 bytes out" in finding.fix_note
    assert lint(text, context_dir=str(tmp_path), options=small).context_bytes == 3_001_009
    assert rules(text, context_dir=str(tmp_path)) == []  # below the default 5 MB
    staged = "FROM node AS build\nCOPY . /src\nFROM busybox\nCOPY --from=build /src/a /a\n"
    (finding,) = lint(staged, context_dir=str(tmp_path), options=small).findings
    assert finding.lines == (2,) and "line 2 copies all of it" in finding.message
    (tmp_path / ".dockerignore").write_text("*.log\n")
    assert rules(text, context_dir=str(tmp_path), options=small) == []


def test_shell_splitting() -> None:
    cmds = split_commands("A=1 sudo apt-get install -y 'a && b' \\\n && echo \"x;y\" | tee f # c")
    assert [c.argv for c in cmds] == [("apt-get", "install", "-y", "a && b"),
                                      ("echo", "x;y"), ("tee", "f")]
    role = package_role(cmds[0])
    assert role is not None and (role[0].name, role[1]) == ("apt", "install")
    assert squeeze("a &&  \\\n    b 'x   y' # note\n") == "a && b 'x   y'"
    assert manifests(split_commands("python3 -m pip install -r req/dev.txt")[0]) == ("req/dev.txt",)
    assert manifests(split_commands("echo hi")[0]) is None


# --- costs on analyses of in-memory layer tars ----------------------------------------

def analysis_of(layers: list[tuple[str, list[Member]]]) -> ImageAnalysis:
    steps = [LayerStep(i, FakeLayer(bytes([i])), made_by)  # type: ignore[arg-type]
             for i, (made_by, _) in enumerate(layers)]
    return analyze_listings(steps, [listing(m) for _, m in layers], name="img")


BASE: tuple[str, list[Member]] = ("layerfs import rootfs", [("bin/", None), ("bin/sh", b"s" * 100),
                                                            ("var/cache/", None)])


def test_costs_are_the_bytes_the_fix_removes() -> None:
    a = analysis_of([
        BASE,
        ("RUN /bin/sh -c apk update # buildkit",
         [("var/cache/apk/", None), ("var/cache/apk/APKINDEX", b"i" * 6000)]),
        ("RUN /bin/sh -c apk add curl # buildkit",
         [("usr/bin/curl", b"c" * 10), ("var/cache/apk/curl.apk", b"a" * 2000)]),
        ("RUN /bin/sh -c rm -rf /var/cache/apk/* # buildkit",
         [("var/cache/apk/.wh.APKINDEX", b""), ("var/cache/apk/.wh.curl.apk", b"")]),
    ])
    report = lint(SEED_BAD, analysis=a, image_name="bad-layers")
    (finding,) = report.findings
    assert finding.cost == 8000 and a.wasted_bytes == 8000
    assert "/var/cache/apk/APKINDEX (6,000 bytes, layer 1)" in finding.cost_note
    assert report.image_bytes == 8000 and report.image == "bad-layers"


def test_rm_of_base_files_saves_nothing() -> None:
    a = analysis_of([BASE, ("RUN /bin/sh -c rm -f /bin/sh # buildkit", [("bin/.wh.sh", b"")])])
    (finding,) = lint("FROM x\nRUN rm -f /bin/sh\n", analysis=a).findings
    assert finding.rule == "rm-later-layer" and finding.cost == 0
    assert "files of the base image" in finding.message and finding.fix == ()
    assert finding.fix_deletes and finding.span == (2, 2)
    assert "hides 100 bytes of the base image" in finding.cost_note


def test_an_image_not_built_from_the_dockerfile_is_refused() -> None:
    a = analysis_of([BASE, ("RUN /bin/sh -c echo other # buildkit", [("x", b"1")])])
    with pytest.raises(InvalidInput, match="not by line 2"):
        lint("FROM x\nRUN echo mine\n", analysis=a, image_name="img")
    no_history = analysis_of([("", BASE[1]), ("RUN /bin/sh -c echo other", [("x", b"1")])])
    with pytest.raises(InvalidInput, match="fewer than"):
        lint("FROM x\nRUN echo a\nRUN echo b\nRUN echo other\n", analysis=no_history)


def test_multi_stage_costs_are_measured_on_the_target_stage() -> None:
    text = ("FROM busybox AS build\nRUN mkdir -p /out/tmp && echo x > /out/tmp/t\n"
            "FROM busybox\nCOPY --from=build /out /out\nRUN rm -rf /out/tmp\n")
    a = analysis_of([
        BASE,
        ("COPY /out /out # buildkit", [("out/", None), ("out/tmp/", None),
                                       ("out/tmp/t", b"t" * 500), ("out/bin", b"b" * 10)]),
        ("RUN /bin/sh -c rm -rf /out/tmp # buildkit", [("out/.wh.tmp", b"")]),
    ])
    (finding,) = lint(text, analysis=a).findings
    assert finding.rule == "rm-later-layer" and finding.stage == "stage-1"
    assert finding.lines == (4, 5) and finding.span == (4, 5)
    assert finding.cost == 500 and finding.fix == () and not finding.fix_deletes
    assert "line 4 copies files that line 5 deletes" in finding.fix_note
    with pytest.raises(InvalidInput):
        lint(text, analysis=a, options=LintOptions(target="build"))


def test_long_combined_run_is_cut_at_top_level_ands_only() -> None:
    text = ('FROM busybox\nRUN mkdir -p /build && echo "configure && make && install" > '
            '/build/NOTES\nRUN (cd /build && cat NOTES) && rm -rf /build\n')
    (finding,) = lint(text).findings
    assert finding.fix == (
        "RUN mkdir -p /build && \\",
        '    echo "configure && make && install" > /build/NOTES && \\',
        "    (cd /build && cat NOTES) && \\",
        "    rm -rf /build",
    )


def test_cli_text_json_stdin_and_exit_code(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(SEED_BAD)
    runner = CliRunner()
    text = runner.invoke(lint_cmd, [str(tmp_path / "Dockerfile")])
    assert text.exit_code == 0, text.output
    assert text.output.splitlines()[0].endswith(
        "Dockerfile:2-4: split-update-install (seed: Multiple RUN commands)")
    assert "  fix (Dockerfile, lines 2-4):\n    RUN apk update && apk add curl && " \
           "rm -rf /var/cache/apk/*\n" in text.output
    assert text.output.rstrip().endswith(f"1 finding; context {len(SEED_BAD)}B")
    failing = runner.invoke(lint_cmd, ["--exit-code", "--json", "-"], input=SEED_BAD)
    assert failing.exit_code == 1
    data = json.loads(failing.output)
    assert data["dockerfile"] == "Dockerfile" and data["context_bytes"] is None
    assert [f["rule"] for f in data["findings"]] == ["split-update-install"]
    clean = runner.invoke(lint_cmd, ["--exit-code", "-"], input=SEED_GOOD)
    assert clean.exit_code == 0 and clean.output == "0 findings\n"


def test_many_layers_cost_is_what_the_adjacent_runs_write_and_hide() -> None:
    runs = ["echo a > /tmp/a", "rm -f /tmp/a"] + [f"touch /f{i}" for i in range(10)]
    text = "FROM busybox\n" + "".join(f"RUN {r}\n" for r in runs)
    layers: list[tuple[str, list[Member]]] = [BASE]
    layers.append((f"RUN /bin/sh -c {runs[0]}", [("tmp/", None), ("tmp/a", b"a" * 40)]))
    layers.append((f"RUN /bin/sh -c {runs[1]}", [("tmp/.wh.a", b"")]))
    layers += [(f"RUN /bin/sh -c {r}", [(r.split("/")[-1], b"")]) for r in runs[2:]]
    findings = {f.rule: f for f in lint(text, analysis=analysis_of(layers)).findings}
    assert findings["many-layers"].cost == 40 and findings["rm-later-layer"].cost == 40
    assert "combining the adjacent RUNs leaves 1 layer" in findings["many-layers"].fix_note
