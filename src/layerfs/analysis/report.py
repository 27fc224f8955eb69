"""`layerfs report`: an image analysis as one self-contained HTML page.

```python
from layerfs.analysis.dive import analyze
from layerfs.analysis.report import render
html = render(analyze(image, name="bad-layers"))
```

The page holds the efficiency and totals, a bar chart of layer sizes with the wasted
part marked (inline SVG), the top waste items with their explanations, optionally the
lint findings of the Dockerfile the image was built from, and every layer's file
changes in a collapsible section. Style, script and chart are inline: the page loads
nothing, from the network or from disk. Every text that comes from the image (paths,
instructions) is escaped. A layer with more than `max_changes` changes shows its
largest ones and says how many were left out.
"""

from __future__ import annotations

from html import escape

from layerfs.analysis.lint_model import REBUILD_BYTES, LintReport
from layerfs.analysis.model import ImageAnalysis, LayerAnalysis
from layerfs.analysis.report_static import CSS, JS
from layerfs.analysis.report_svg import human, layer_chart, short

__all__ = ["render"]


def render(a: ImageAnalysis, *, lint: LintReport | None = None, top: int = 10,
           max_changes: int = 2000) -> str:
    """The page for analysis `a` (and the lint report of its Dockerfile, if given)."""
    name = a.name or "image"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>layerfs report: {escape(name)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(name)}</h1>",
        '<p class="muted">Where the bytes of this image go: layer sizes are the bytes of '
        "file data in each layer; wasted bytes are copies a later layer hides (overwritten "
        "or deleted), each copy counted once.</p>",
        _cards(a),
        '<h2 id="chart">Layer sizes</h2>',
        layer_chart(a),
        _waste(a, top),
    ]
    if lint is not None:
        parts.append(_lint(lint))
    parts += [_layers(a, max_changes), f"<script>{JS}</script>", "</body></html>"]
    return "\n".join(parts) + "\n"


def _cards(a: ImageAnalysis) -> str:
    percent = 100 * a.efficiency
    cards = [
        ("Total size", human(a.total_size), f"{a.total_size:,} bytes"),
        ("Layers", str(len(a.layers)), f"user layers: {human(a.user_size)}"),
        ("Wasted", human(a.wasted_bytes), f"{a.wasted_bytes:,} bytes"),
        ("User wasted", f"{a.user_wasted_percent:.1f} %", "of the layers above the base"),
    ]
    html = ['<div class="cards">',
            f'<div class="card" id="efficiency">Efficiency<b>{percent:.1f} %</b>'
            f'<div class="meter"><span style="width:{max(0.0, min(percent, 100.0)):.1f}%">'
            "</span></div></div>"]
    html += [f'<div class="card">{escape(title)}<b>{escape(value)}</b>'
             f'<span class="muted">{escape(note)}</span></div>' for title, value, note in cards]
    html.append("</div>")
    return "\n".join(html)


def _waste(a: ImageAnalysis, top: int) -> str:
    if not a.waste:
        return '<h2 id="waste">Waste</h2><p>Nothing is wasted: no layer hides a copy made ' \
               "by a lower one.</p>"
    rows = [f'<tr><td class="num wasted">{escape(human(w.total_bytes))}</td>'
            f'<td class="num">{len(w.copies)}</td><td class="path">{escape(w.path)}</td>'
            f"<td>{escape(w.explanation)}</td></tr>" for w in a.waste[:top]]
    more = len(a.waste) - top
    tail = f'<p class="muted">and {more} more waste items.</p>' if more > 0 else ""
    return ('<h2 id="waste">Top waste</h2><table id="waste-table"><thead><tr>'
            '<th class="num">wasted</th><th class="num">copies</th><th>path</th>'
            "<th>why</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>" + tail)


def _lint(report: LintReport) -> str:
    head = f'<h2 id="lint">Dockerfile lint: {escape(report.dockerfile)}</h2>'
    if not report.findings:
        return head + "<p>No finding: none of the common mistakes was found.</p>"
    items = []
    for f in report.findings:
        where = (f"lines {f.span[0]}-{f.span[1]}" if f.span != (0, 0)
                 else "lines " + ", ".join(map(str, f.lines)) if f.lines else "")
        cost = ""
        if f.cost is not None:
            kind = "rebuilt per change" if f.cost_kind == REBUILD_BYTES else "in the image"
            cost = (f'<p><span class="wasted">{escape(human(f.cost))} {kind}</span>: '
                    f"{escape(f.cost_note)}</p>")
        fix = (f'<p>Fix ({escape(f.fix_file)}):</p><pre class="fix">'
               + escape("\n".join(f.fix)) + "</pre>") if f.fix else (
            f"<p>Fix: delete {escape(where)}.</p>" if f.fix_deletes else "")
        note = f'<p class="muted">{escape(f.fix_note)}</p>' if f.fix_note else ""
        items.append(f'<div class="finding"><h3>{escape(f.mistake)} '
                     f'<span class="muted">({escape(f.rule)}, {escape(where)})</span></h3>'
                     f"<p>{escape(f.message)}</p>{cost}{fix}{note}</div>")
    total = report.image_bytes
    summary = (f"<p>The fixes remove <b>{escape(human(total))}</b> ({total:,} bytes, each "
               "copy once) from the image.</p>" if total is not None else "")
    return head + summary + "".join(items)


def _layers(a: ImageAnalysis, max_changes: int) -> str:
    html = ['<h2 id="layers">Layers and their changes</h2>',
            '<div class="toolbar"><button type="button" id="expand-all">Expand all</button>'
            '<button type="button" id="collapse-all">Collapse all</button>'
            '<input type="search" id="path-filter" placeholder="filter paths"></div>']
    html += [_layer(la, max_changes) for la in a.layers]
    return "\n".join(html)


def _layer(la: LayerAnalysis, max_changes: int) -> str:
    counts = la.counts()
    shown = list(la.changes)
    note = ""
    if len(shown) > max_changes:
        shown = sorted(sorted(shown, key=lambda c: -c.size)[:max_changes], key=lambda c: c.path)
        note = (f'<p class="muted">The {max_changes} largest of {len(la.changes)} changes '
                "are shown.</p>")
    wasted = (f' · <span class="wasted">{escape(human(la.wasted_bytes))} wasted</span>'
              if la.wasted_bytes else "")
    rows = "".join(
        f'<tr class="change" data-path="{escape(c.path)}"><td class="kind-{escape(c.kind)}">'
        f'{escape(c.kind)}</td><td class="num">{escape(human(c.size))}</td>'
        f'<td class="path">{escape(c.path)}{"/" if c.is_dir else ""}</td></tr>'
        for c in shown)
    return (f'<details class="layer" id="layer-{la.index}"><summary><b>layer {la.index}</b> · '
            f"{escape(human(la.size))}{wasted} · A {counts['A']} M {counts['M']} "
            f"D {counts['D']} · <code>{escape(short(la.created_by, 110))}</code></summary>"
            f'<div class="changes"><p class="muted">diff_id <code>{escape(la.diff_id)}</code>'
            f"</p>{note}<table><thead><tr><th>kind</th><th class=\"num\">size</th>"
            f"<th>path</th></tr></thead><tbody>{rows}</tbody></table></div></details>")
