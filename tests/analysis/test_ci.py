"""`--ci` rules: dive's three, read from .dive-ci or options, plus the wasted-bytes floor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from analysis_tars import listing, steps

from layerfs.analysis.ci import FAIL, PASS, SKIP, CiRules, evaluate, passed
from layerfs.analysis.dive import analyze_listings
from layerfs.errors import InvalidInput

MB = 1_000_000


def image(base: int, wasted: int) -> Any:
    return analyze_listings(steps(3), [listing([("base", b"b" * base)]),
                                       listing([("junk", b"j" * wasted)]),
                                       listing([(".wh.junk", b"")])])


def test_dive_ci_file_and_units() -> None:
    rules = CiRules.from_file("rules:\n  lowestEfficiency: 0.95\n  highestWastedBytes: 20MB\n"
                              "  highestUserWastedPercent: disabled  # off\n"
                              "  minimumWastedBytes: 1MiB\n")
    assert rules == CiRules(0.95, 20 * MB, None, 1 << 20)
    assert CiRules().replace(highest_user_wasted_percent="15%").highest_user_wasted_percent == 0.15
    with pytest.raises(InvalidInput):
        CiRules().replace(highest_wasted_bytes="lots")


def test_small_waste_is_under_the_floor() -> None:
    small = image(base=1000, wasted=2 * MB)  # efficiency ~0.0005: only noise-sized bytes
    results = evaluate(small, CiRules())
    assert [r.status for r in results] == [PASS, SKIP, PASS] and passed(results)
    assert "floor" in results[0].message
    strict = evaluate(small, CiRules(minimum_wasted_bytes=0))
    assert [r.status for r in strict] == [FAIL, SKIP, FAIL]


def test_big_waste_fails_each_rule() -> None:
    big = image(base=10 * MB, wasted=12 * MB)
    results = evaluate(big, CiRules(highest_wasted_bytes=5 * MB))
    assert [r.status for r in results] == [FAIL, FAIL, FAIL] and not passed(results)
    ok = evaluate(big, CiRules(0.4, 20 * MB, 1.5))
    assert [r.status for r in ok] == [PASS, PASS, PASS]


def test_cli_exit_code_and_json(lab: Any, tmp_path: Path) -> None:
    lab.build("ci:waste", "FROM busybox\nRUN dd if=/dev/zero of=/big bs=1M count=12\n"
              "RUN rm /big\n")
    lab.build("ci:fine", "FROM busybox\nRUN echo ok > /ok\n")
    failing = lab.cli("dive", "--ci", "ci:waste")
    assert failing.exit_code == 1 and "Result: FAIL" in failing.output
    assert "/big" in failing.output
    assert lab.cli("dive", "--ci", "ci:fine").exit_code == 0
    loose = lab.cli("dive", "--ci", "--lowestEfficiency", "0.1",
                    "--highestUserWastedPercent", "disabled", "ci:waste")
    assert loose.exit_code == 0, loose.output
    conf = tmp_path / "dive-ci.yaml"
    conf.write_text("rules:\n  lowestEfficiency: disabled\n  highestUserWastedPercent: off\n"
                    "  highestWastedBytes: 1MB\n")
    by_file = lab.cli("dive", "--ci", "--json", "--ci-config", str(conf), "ci:waste")
    assert by_file.exit_code == 1
    assert '"highestWastedBytes"' in by_file.output


def test_cli_table_explains_waste(lab: Any) -> None:
    lab.build("tbl:1", "FROM busybox\nRUN echo aaaa > /f\nRUN echo bbbbbbbb > /f\n")
    out = lab.cli("dive", "--changes", "tbl:1")
    assert out.exit_code == 0, out.output
    assert "Potential wasted space: 5B (5 bytes)" in out.output
    assert "/f: 5 bytes wasted: layer 1 (RUN /bin/sh -c echo aaaa > /f" in out.output
    assert "  M       9B  /f" in out.output
