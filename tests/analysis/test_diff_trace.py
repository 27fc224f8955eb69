"""`layerfs diff IMAGE1 IMAGE2`, `diff --layer D1 D2` and `trace IMAGE PATH`, on images
built in the test; the store form and the docker-archive form must agree."""

from __future__ import annotations

import json
from typing import Any

import pytest

from layerfs.analysis.imgdiff import diff_images
from layerfs.analysis.sources import open_source
from layerfs.analysis.trace import trace_image


@pytest.fixture(scope="module")
def pair(lab: Any) -> Any:
    lab.build("app:1", "FROM busybox\nRUN mkdir /app && echo one > /app/conf && "
              "dd if=/dev/zero of=/app/blob bs=1k count=40 && echo gone > /app/old\n")
    lab.build("app:2", "FROM app:1\nRUN echo two! > /app/conf && rm /app/old && "
              "dd if=/dev/zero of=/app/new bs=1k count=8 && rm -rf /bin/vi\n")
    return lab


def test_image_diff_kinds_deltas_total(pair: Any) -> None:
    out = pair.cli("diff", "--json", "app:1", "app:2")
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    got = {c["path"]: (c["kind"], c["delta"]) for c in data["changes"]}
    assert got == {"/app/conf": ("C", 1), "/app/old": ("D", -5), "/app/new": ("A", 8192),
                   "/bin/vi": ("D", 0)}
    assert data["total_delta"] == 1 - 5 + 8192
    table = pair.cli("diff", "app:1", "app:2").output
    assert "total +8.19kB (8188 bytes)" in table


def test_image_diff_same_from_any_source(pair: Any) -> None:
    archive = pair.save("app:2")
    with open_source("app:1", store_root=str(pair.root / "store")) as a, \
            open_source(f"docker-archive:{archive}") as b:
        assert diff_images(a, b).to_dict()["total_delta"] == 8188


def test_layer_diff(pair: Any) -> None:
    top = pair.store.image("app:2").layers()[-1].digest().hex
    below = pair.store.image("app:1").layers()[-1].digest().hex
    out = pair.cli("diff", "--layer", "--json", below[:12], top[:12])
    assert out.exit_code == 0, out.output
    got = {c["path"]: c["kind"] for c in json.loads(out.output)["changes"]}
    assert got["/app/.wh.old"] == "A" and got["/app/blob"] == "D"
    assert pair.cli("diff", "--layer", "ffff").exit_code != 0


def test_trace_store_and_archive_agree(pair: Any) -> None:
    archive = pair.save("app:2")
    for path, winner in (("/app/conf", 2), ("/app/old", None), ("/bin/busybox", 0)):
        with open_source("app:2", store_root=str(pair.root / "store")) as img:
            by_dirs = trace_image(img, path)
        with open_source(f"docker-archive:{archive}") as img:
            by_tars = trace_image(img, path)
        assert (by_dirs.method, by_tars.method) == ("layer dirs", "tar listings")
        assert by_dirs.winner == by_tars.winner == winner
        states = [(r.index, r.state) for r in by_tars.rows]
        assert states == [(r.index, r.state) for r in by_dirs.rows], path
    out = pair.cli("trace", "app:2", "/app/old")
    assert out.exit_code == 0, out.output
    assert "not in the image" in out.output and "rm /app/old" in out.output
    hidden = pair.cli("trace", "--json", "app:2", "/app/conf")
    rows = json.loads(hidden.output)["rows"]
    assert [r["state"] for r in rows if r["index"] == 1] == ["hidden"]
