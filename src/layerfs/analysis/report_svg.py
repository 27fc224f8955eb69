"""The report's bar chart: one horizontal bar per layer (base at the top), its length the
layer's size, the part that later layers hide (wasted) marked in red at its end.

Inline SVG text, no script and no external reference; every text from the image
(instructions) is escaped. Bars scale linearly to the largest layer; a layer with data
gets at least 2 px so that it stays visible next to a large base.
"""

from __future__ import annotations

from html import escape

from layerfs.analysis.model import ImageAnalysis

WIDTH = 1100
ROW = 30
LABEL = 80
BAR = 560
_TOP = 10


def human(n: int) -> str:
    """Bytes in decimal units, docker's style (2.1 MB shown as 2.1MB)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{int(value)}B" if unit == "B" else f"{value:.3g}{unit}"
        value /= 1000
    return f"{value:.3g}TB"


def short(text: str, limit: int = 70) -> str:
    """An instruction on one line, at most `limit` characters."""
    text = " ".join(text.replace("/bin/sh -c #(nop) ", "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def layer_chart(a: ImageAnalysis) -> str:
    """The chart as an `<svg>` element (id "layer-chart"; each bar a `<g class="bar">`
    with `data-layer`, `data-size` and `data-wasted` attributes)."""
    largest = max((la.size for la in a.layers), default=0) or 1
    height = _TOP * 2 + ROW * max(len(a.layers), 1) + 24
    out = [
        f'<svg id="layer-chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="layer sizes, wasted bytes marked">',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#d9534f"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#a94442" stroke-width="3"/></pattern></defs>',
    ]
    for row, la in enumerate(a.layers):
        y = _TOP + row * ROW
        length = 0 if la.size == 0 else max(2, round(BAR * la.size / largest))
        wasted = 0 if la.wasted_bytes == 0 else max(2, round(length * la.wasted_bytes / la.size))
        tip = (f"layer {la.index}: {la.size:,} bytes, {la.wasted_bytes:,} wasted; "
               f"{short(la.created_by, 200)}")
        out.append(f'<g class="bar" data-layer="{la.index}" data-size="{la.size}" '
                   f'data-wasted="{la.wasted_bytes}"><title>{escape(tip)}</title>')
        out.append(f'<text x="4" y="{y + 19}" class="label">layer {la.index}</text>')
        out.append(f'<rect x="{LABEL}" y="{y + 4}" width="{BAR}" height="{ROW - 8}" '
                   'class="track"/>')
        out.append(f'<rect x="{LABEL}" y="{y + 4}" width="{length}" height="{ROW - 8}" '
                   'class="size"/>')
        if wasted:
            out.append(f'<rect x="{LABEL + length - wasted}" y="{y + 4}" width="{wasted}" '
                       f'height="{ROW - 8}" fill="url(#hatch)" class="waste"/>')
        note = human(la.size) + (f" ({human(la.wasted_bytes)} wasted)" if la.wasted_bytes else "")
        out.append(f'<text x="{LABEL + BAR + 10}" y="{y + 19}" class="value">'
                   f'{escape(note)}  {escape(short(la.created_by, 48))}</text></g>')
    y = _TOP + ROW * max(len(a.layers), 1) + 8
    out.append(f'<rect x="{LABEL}" y="{y}" width="14" height="12" class="size"/>'
               f'<text x="{LABEL + 20}" y="{y + 11}" class="legend">layer size</text>'
               f'<rect x="{LABEL + 120}" y="{y}" width="14" height="12" fill="url(#hatch)"/>'
               f'<text x="{LABEL + 140}" y="{y + 11}" class="legend">wasted: hidden by a '
               'later layer (overwritten or deleted)</text>')
    out.append("</svg>")
    return "\n".join(out)
