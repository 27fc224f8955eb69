"""`dive --ci` rules: lowest efficiency, highest wasted bytes, highest user-wasted percent,
plus absolute floors so that small images are not failed for noise.

The thresholds read like dive's (`.dive-ci` YAML `rules:` block, or options): ratios
0..1 for efficiency and user-wasted percent (a value above 1 or ending in `%` is taken
as a percent), byte counts with units (`20MB` = 20*1000^2, `20MiB` = 20*1024^2), and
`disabled`. Our floor, `minimumWastedBytes` (default 10 MB): when the image wastes less
than that, the two ratio rules pass with a note — 2 MB of apt metadata is 20 % of a
10 MB user layer but not worth failing a build for. `highestWastedBytes` has no floor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from layerfs.analysis.model import ImageAnalysis
from layerfs.errors import InvalidInput

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3,
          "gb": 1000**3, "t": 1000**4, "tb": 1000**4, "kib": 1024, "mib": 1024**2,
          "gib": 1024**3, "tib": 1024**4}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")
_KEYS = {"lowestEfficiency": "lowest_efficiency", "highestWastedBytes": "highest_wasted_bytes",
         "highestUserWastedPercent": "highest_user_wasted_percent",
         "minimumWastedBytes": "minimum_wasted_bytes"}


@dataclass(frozen=True)
class CiRules:
    """Thresholds (None: the rule is disabled). Ratios are 0..1 (as dive's)."""

    lowest_efficiency: float | None = 0.9
    highest_wasted_bytes: int | None = None
    highest_user_wasted_percent: float | None = 0.1
    minimum_wasted_bytes: int = 10_000_000

    def replace(self, **values: str | None) -> CiRules:
        """New rules with dive-style texts applied (keys: field names; None: unchanged)."""
        fields = dict(self.__dict__)
        for key, text in values.items():
            if text is None:
                continue
            if key not in fields:
                raise InvalidInput(f"unknown CI rule {key!r}")
            fields[key] = _parse(key, text)
        if fields["minimum_wasted_bytes"] is None:
            fields["minimum_wasted_bytes"] = 0
        return CiRules(**fields)

    @classmethod
    def from_file(cls, text: str, base: CiRules | None = None) -> CiRules:
        """Rules from a `.dive-ci` file's text (the `rules:` mapping; other keys ignored)."""
        values: dict[str, str | None] = {}
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].rstrip()
            if not line.strip() or not raw.startswith((" ", "\t")):
                continue
            key, sep, value = line.strip().partition(":")
            if sep and key in _KEYS:
                values[_KEYS[key]] = value.strip().strip("'\"")
        return (base or cls()).replace(**values)


@dataclass(frozen=True)
class RuleResult:
    """One rule's verdict: `status` PASS, FAIL or SKIP (disabled or under the floor)."""

    rule: str
    status: str
    message: str


def _parse(key: str, text: str) -> float | int | None:
    text = text.strip()
    if text.lower() in ("disabled", "off", "none", ""):
        return None
    if key in ("highest_wasted_bytes", "minimum_wasted_bytes"):
        m = _SIZE.match(text)
        unit = m.group(2).lower() if m else ""
        if m is None or unit not in _UNITS:
            raise InvalidInput(f"{key}: not a byte count: {text!r}")
        return int(float(m.group(1)) * _UNITS[unit])
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise InvalidInput(f"{key}: not a ratio: {text!r}") from None
    return value / 100 if text.endswith("%") or value > 1 else value


def evaluate(a: ImageAnalysis, rules: CiRules) -> list[RuleResult]:
    """Each rule's verdict for `a` (the same three rules as dive, in dive's order)."""
    out: list[RuleResult] = []
    small = a.wasted_bytes < rules.minimum_wasted_bytes
    floor = f"wasted {a.wasted_bytes} bytes < floor {rules.minimum_wasted_bytes}"
    if rules.lowest_efficiency is None:
        out.append(RuleResult("lowestEfficiency", SKIP, "disabled"))
    else:
        ok = a.efficiency >= rules.lowest_efficiency
        msg = f"efficiency {a.efficiency:.4f} (lowest allowed {rules.lowest_efficiency})"
        out.append(RuleResult("lowestEfficiency", PASS if ok or small else FAIL,
                              msg if ok or not small else f"{msg}; {floor}"))
    if rules.highest_wasted_bytes is None:
        out.append(RuleResult("highestWastedBytes", SKIP, "disabled"))
    else:
        ok = a.wasted_bytes <= rules.highest_wasted_bytes
        out.append(RuleResult("highestWastedBytes", PASS if ok else FAIL,
                              f"wasted {a.wasted_bytes} bytes (highest allowed "
                              f"{rules.highest_wasted_bytes})"))
    if rules.highest_user_wasted_percent is None:
        out.append(RuleResult("highestUserWastedPercent", SKIP, "disabled"))
    else:
        ratio = a.user_wasted_percent / 100
        ok = ratio <= rules.highest_user_wasted_percent
        msg = (f"user wasted ratio {ratio:.4f} (highest allowed "
               f"{rules.highest_user_wasted_percent})")
        out.append(RuleResult("highestUserWastedPercent", PASS if ok or small else FAIL,
                              msg if ok or not small else f"{msg}; {floor}"))
    return out


def passed(results: list[RuleResult]) -> bool:
    """True when no rule failed."""
    return all(r.status != FAIL for r in results)
