"""The report page's fixed text: its style sheet and its script (inline; the page loads
nothing). The script only adds conveniences — expand/collapse every layer, a path filter
over the file changes — and marks the page `data-rendered="yes"` when it has run, which
the headless-browser test checks; the page reads the same without it.
"""

from __future__ import annotations

CSS = """
:root { --fg: #222; --muted: #666; --line: #ddd; --bar: #4a7fb5; --waste: #d9534f; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
       margin: 24px auto; max-width: 1180px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); }
.muted { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 150px; }
.card b { display: block; font-size: 20px; }
.meter { height: 8px; background: #eee; border-radius: 4px; overflow: hidden; margin-top: 6px; }
.meter span { display: block; height: 100%; background: var(--bar); }
svg text { font: 12px system-ui, sans-serif; fill: var(--fg); }
svg .label { font-weight: 600; }
svg .track { fill: #f3f3f3; }
svg .size { fill: var(--bar); }
svg .legend { fill: var(--muted); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
         vertical-align: top; }
td.num, th.num { text-align: right; white-space: nowrap; }
#waste-table td.path { min-width: 260px; }
code, .path { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px;
              word-break: break-all; }
details.layer { border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; }
details.layer > summary { cursor: pointer; padding: 6px 10px; }
details.layer[open] > summary { border-bottom: 1px solid var(--line); }
details.layer .changes { max-height: 420px; overflow: auto; padding: 0 10px 8px; }
.kind-A { color: #2e7d32; } .kind-M { color: #b26a00; } .kind-D { color: var(--waste); }
.wasted { color: var(--waste); font-weight: 600; }
.toolbar { display: flex; gap: 8px; align-items: center; margin: 8px 0; }
.toolbar input { flex: 1; padding: 4px 8px; }
pre.fix { background: #f6f8fa; padding: 8px 10px; border-radius: 4px; overflow-x: auto; }
tr.hidden { display: none; }
"""

JS = """
(function () {
  "use strict";
  var layers = document.querySelectorAll("details.layer");
  function setAll(open) {
    for (var i = 0; i < layers.length; i++) { layers[i].open = open; }
  }
  var expand = document.getElementById("expand-all");
  var collapse = document.getElementById("collapse-all");
  if (expand) { expand.addEventListener("click", function () { setAll(true); }); }
  if (collapse) { collapse.addEventListener("click", function () { setAll(false); }); }
  var filter = document.getElementById("path-filter");
  if (filter) {
    filter.addEventListener("input", function () {
      var needle = filter.value.toLowerCase();
      var rows = document.querySelectorAll("tr.change");
      for (var i = 0; i < rows.length; i++) {
        var hit = !needle || rows[i].getAttribute("data-path").toLowerCase().indexOf(needle) >= 0;
        rows[i].classList.toggle("hidden", !hit);
      }
      if (needle) { setAll(true); }
    });
  }
  var bars = document.querySelectorAll("#layer-chart g.bar");
  for (var j = 0; j < bars.length; j++) {
    bars[j].addEventListener("click", function (event) {
      var index = event.currentTarget.getAttribute("data-layer");
      var target = document.getElementById("layer-" + index);
      if (target) { target.open = true; target.scrollIntoView(); }
    });
  }
  document.body.setAttribute("data-rendered", "yes");
})();
"""
