"""`layerfs builder prune [-a] [-f]`: frees exactly what `system df` calls the build
cache's reclaimable; keeps what images use; -a drops every entry; without -f it asks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from layerfs.cli.main import cli


@pytest.fixture
def root(tmp_path: Path) -> str:
    return str(tmp_path / "store")


def _run(root: str, *args: str, stdin: str | None = None, ok: bool = True) -> Result:
    result = CliRunner().invoke(cli, ["--root", root, *args], input=stdin,
                                catch_exceptions=False)
    assert (result.exit_code == 0) == ok, result.output
    return result


def _cache_line(root: str) -> dict[str, int]:
    [line] = [s for s in json.loads(_run(root, "system", "df", "--json").output)["summary"]
              if s["kind"] == "Build Cache"]
    return line


@pytest.fixture
def built(root: str, tmp_path: Path) -> Path:
    """A base image `base` (one layer) and the cache of a build on it whose image is gone."""
    ctx = tmp_path / "ctx"
    (ctx / "rootfs" / "bin").mkdir(parents=True)
    (ctx / "rootfs" / "bin" / "tool").write_bytes(b"t" * 3000)
    (ctx / "note.txt").write_bytes(os.urandom(20000))
    (ctx / "Dockerfile").write_text("FROM scratch\nADD rootfs/ /\n")
    (ctx / "Dockerfile.note").write_text("FROM base\nCOPY note.txt /\n")
    _run(root, "build", "-q", "-t", "base", str(ctx))
    _run(root, "build", "-q", "-f", str(ctx / "Dockerfile.note"), "-t", "noted", str(ctx))
    _run(root, "rmi", "noted")
    return ctx


def test_prune_frees_what_df_called_reclaimable(root: str, built: Path) -> None:
    before = _cache_line(root)
    assert before["reclaimable"] > 20000 and before["reclaimable"] == before["size"]
    result = json.loads(_run(root, "builder", "prune", "-f", "--json").output)
    assert result["reclaimed"] == before["reclaimable"]
    assert result["entries"] >= 1
    after = _cache_line(root)
    assert after["reclaimable"] == 0 and after["total"] == before["total"] - result["entries"]
    again = _run(root, "builder", "prune", "-f").output.splitlines()
    assert again == ["Deleted build cache objects: 0", "Total reclaimed space: 0B"]
    assert "clean" in _run(root, "fsck").output
    _run(root, "history", "base")  # the image the cache shared a layer with is intact


def test_prune_all_drops_every_entry_but_keeps_image_layers(root: str, built: Path) -> None:
    out = _run(root, "builder", "prune", "-a", "-f").output.splitlines()
    assert out[0].startswith("Deleted build cache objects: ") and int(out[0].split()[-1]) >= 3
    assert _cache_line(root)["total"] == 0
    assert "clean" in _run(root, "fsck").output
    assert _run(root, "images", "-q").output.strip()  # base stays
    # a rebuild misses now (nothing cached) and still works
    _run(root, "build", "-q", "-f", str(built / "Dockerfile.note"), "-t", "noted", str(built))


def test_without_force_it_asks(root: str, built: Path) -> None:
    before = _cache_line(root)
    refused = _run(root, "builder", "prune", stdin="n\n", ok=False)
    assert "Are you sure" in refused.output
    assert _cache_line(root) == before
    accepted = _run(root, "builder", "prune", "-a", stdin="y\n")
    assert "remove all build cache" in accepted.output
    assert _cache_line(root)["total"] == 0
