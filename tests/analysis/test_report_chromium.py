"""`layerfs report` pages rendered by headless Chromium (Debian's `chromium`, installed by
`make setup`): the page renders (a screenshot that is not blank), its script runs (the
DOM Chromium dumps is marked rendered and holds the chart), and the console stays quiet
(no error, no message at all).

Chromium runs with no network features and a fresh profile per run; the page is a
file:// URL that loads nothing else."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import Lab
from test_lint_images import BAD, built, ctx
from test_report import sample

from layerfs.analysis.report import render
from layerfs.cli.report import report_cmd

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="chromium is not installed (make setup installs it)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


def chromium(page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    proc = subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args,
                           page.resolve().as_uri()], capture_output=True, text=True,
                          timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def console(stderr: str) -> list[str]:
    """The page's console messages in Chromium's log (`...:CONSOLE:N] "text", source: ...`)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the (filtered) pixel rows of a PNG file."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return size[0], size[1], zlib.decompress(idat)


def check_page(page: Path, tmp: Path, layers: int) -> None:
    shot = tmp / "shot.png"
    proc = chromium(page, tmp, f"--screenshot={shot}", "--window-size=1200,1600")
    assert console(proc.stderr) == []
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (1200, 1600)
    assert len(set(pixels)) > 50, "the screenshot is (nearly) blank"
    dom = chromium(page, tmp, "--dump-dom")
    assert console(dom.stderr) == []
    assert 'data-rendered="yes"' in dom.stdout, "the page's script did not run to its end"
    assert '<svg id="layer-chart"' in dom.stdout
    assert len(re.findall(r'<g class="bar" data-layer=', dom.stdout)) == layers


def test_report_of_a_built_image_renders(lab: Lab, tmp_path: Path) -> None:
    built(lab, "bad-layers", BAD)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        report_cmd, ["bad-layers", "-o", str(out), "--dockerfile",
                     str(ctx(lab, "bad-layers") / "Dockerfile")],
        env={"LAYERFS_ROOT": str(lab.root / "store")}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out)
    page = out.read_text()
    assert "rm in separate layer" in page and "614kB" in page
    check_page(out, tmp_path, layers=4)


def test_page_with_hostile_names_renders_quietly(tmp_path: Path) -> None:
    page = tmp_path / "sample.html"
    page.write_text(render(sample(evil=True)))
    check_page(page, tmp_path, layers=4)
