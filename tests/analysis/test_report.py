"""`layerfs report`: the page's content on analyses of layer tars made in memory (chart,
waste, lint section, escaping, nothing loaded from anywhere). Rendering in headless
Chromium is tested in test_report_chromium.py."""

from __future__ import annotations

import html
import re

from analysis_tars import FakeLayer, Member, listing

from layerfs.analysis.dive import analyze_listings
from layerfs.analysis.layers import LayerStep
from layerfs.analysis.lint import lint
from layerfs.analysis.model import ImageAnalysis
from layerfs.analysis.report import render

EVIL = "etc/<script>alert(1)<\\/script>&\"'.conf"


def sample(evil: bool = False) -> ImageAnalysis:
    layers: list[tuple[str, list[Member]]] = [
        ("layerfs import rootfs", [("bin/", None), ("bin/sh", b"s" * 5000), ("var/", None)]),
        ("RUN /bin/sh -c mkdir -p /var/cache && dd of=/var/cache/idx # buildkit",
         [("var/cache/", None), ("var/cache/idx", b"i" * 3000)]
         + ([(EVIL, b"e" * 10)] if evil else [])),
        ("RUN /bin/sh -c rm -rf /var/cache/idx # buildkit", [("var/cache/.wh.idx", b"")]),
        ("RUN /bin/sh -c echo <b>bold</b> > /motd # buildkit", [("motd", b"m" * 7)]),
    ]
    steps = [LayerStep(i, FakeLayer(bytes([i])), by)  # type: ignore[arg-type]
             for i, (by, _) in enumerate(layers)]
    return analyze_listings(steps, [listing(m) for _, m in layers], name="sample:1")


def test_page_has_chart_waste_and_changes() -> None:
    a = sample()
    page = render(a)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    bars = re.findall(r'<g class="bar" data-layer="(\d+)" data-size="(\d+)" '
                      r'data-wasted="(\d+)">', page)
    assert bars == [("0", "5000", "0"), ("1", "3000", "3000"), ("2", "0", "0"), ("3", "7", "0")]
    assert page.count('class="waste"') == 1  # only layer 1 has wasted bytes
    assert f"{100 * a.efficiency:.1f} %" in page and "Top waste" in page
    assert html.escape(a.waste[0].explanation) in page
    assert page.count('<details class="layer"') == 4
    assert page.count('<tr class="change"') == sum(len(la.changes) for la in a.layers)
    assert "Dockerfile lint" not in page


def test_page_loads_nothing_and_escapes_image_text() -> None:
    page = render(sample(evil=True))
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;\\/script&gt;&amp;&quot;&#x27;.conf" in page
    assert page.count("<script>") == 1  # the page's own, inline
    assert not re.search(r"\b(src|href)\s*=", page) and "@import" not in page
    assert re.findall(r"url\(([^)]*)\)", page) == ["#hatch"] * len(re.findall("url\\(", page))
    assert re.findall(r"https?://[^\s\"']+", page) == ["http://www.w3.org/2000/svg"]


def test_large_layers_show_their_largest_changes() -> None:
    members: list[Member] = [(f"f{i:03}", b"x" * i) for i in range(1, 101)]
    steps = [LayerStep(0, FakeLayer(b"0"), "big")]  # type: ignore[arg-type]
    page = render(analyze_listings(steps, [listing(members)]), max_changes=10)
    assert page.count('<tr class="change"') == 10 and 'data-path="/f100"' in page
    assert 'data-path="/f001"' not in page and "The 10 largest of 100 changes" in page


def test_page_with_lint_findings() -> None:
    a = sample()
    dockerfile = ("FROM busybox\nRUN mkdir -p /var/cache && dd of=/var/cache/idx\n"
                  "RUN rm -rf /var/cache/idx\nRUN echo <b>bold</b> > /motd\n")
    page = render(a, lint=lint(dockerfile, analysis=a, image_name="sample:1"))
    assert "Dockerfile lint: Dockerfile" in page and "rm in separate layer" in page
    assert "The fixes remove <b>3kB</b> (3,000 bytes, each copy once)" in page
    assert "RUN mkdir -p /var/cache &amp;&amp; dd of=/var/cache/idx &amp;&amp; " \
           "rm -rf /var/cache/idx</pre>" in page
