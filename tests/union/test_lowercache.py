"""`LowerCache`: memoised lower lookups and the name index give what `layerstack` gives.

Random stacks mixing every marker form (kernel, OCI and xattr whiteouts, opaque dirs,
relative and absolute redirects, metacopy-free files, symlinks) are resolved with and
without the cache, cold and warm, and must agree step by step. Then what the cache is for:
a miss costs no lower probe whatever the depth, and the top lower object is lstat'ed
afresh.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from layerfs.union import UnionView
from layerfs.union.layerstack import Resolution, make_layers, resolve
from layerfs.union.lowercache import LowerCache, build_index
from layerfs.union.whiteouts import (
    OCI_OPAQUE,
    OCI_PREFIX,
    WhiteoutFormat,
    make_opaque,
    make_whiteout,
    set_redirect,
)

IS_ROOT = os.geteuid() == 0
MARKER_FMT = WhiteoutFormat.KERNEL if IS_ROOT else WhiteoutFormat.USERXATTR
NAMES = ("a", "b", "c", ".wh.x")
DIRS = ("", "d", "d/e", "f")


def _whiteout(parent: Path, name: str, rng: random.Random) -> None:
    form = rng.choice(["oci", "xattr", "device"] if IS_ROOT else ["oci", "xattr"])
    if form == "oci":
        (parent / (OCI_PREFIX + name)).touch()
    elif form == "xattr":
        make_whiteout(str(parent), name, WhiteoutFormat.XATTR)
    else:
        make_whiteout(str(parent), name, WhiteoutFormat.KERNEL)


def _dir(path: Path, rng: random.Random) -> None:
    path.mkdir(exist_ok=True)
    roll = rng.random()
    if roll < 0.1:
        make_opaque(str(path), MARKER_FMT)
    elif roll < 0.15:
        (path / OCI_OPAQUE).touch()
    elif roll < 0.22:
        set_redirect(str(path), rng.choice(["d", "f", "/d/e", "/f"]), MARKER_FMT)


def _layer(root: Path, rng: random.Random) -> None:
    root.mkdir()
    for d in DIRS:
        parent = root / d
        if d and (not parent.parent.is_dir() or parent.parent.is_symlink() or
                  rng.random() < 0.3):
            continue
        if d:
            if os.path.lexists(parent):
                continue
            _dir(parent, rng)
        for name in (*NAMES, "d", "e", "f"):
            if os.path.lexists(parent / name) or rng.random() < 0.55:
                continue
            roll = rng.random()
            if roll < 0.3:
                (parent / name).write_text(name)
            elif roll < 0.55:
                _whiteout(parent, name, rng)
            elif roll < 0.7:
                os.symlink(rng.choice(["a", "/d", "../f", "d/e"]), parent / name)
            elif name in ("d", "e", "f"):
                _dir(parent / name, rng)


def _shape(res: Resolution) -> tuple[object, ...]:
    """What must agree: the path, the error, and per step the sources and their markers."""
    return (
        res.path,
        res.error,
        tuple(
            (s.name, s.errno,
             tuple((p.layer.index, p.relpath, p.outcome, p.entry.kind, p.opaque, p.redirect,
                    p.metacopy) for p in s.sources))
            for s in res.steps
        ),
    )


@pytest.mark.parametrize("seed", range(24))
def test_cached_resolution_equals_layerstack(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    depth = rng.choice([1, 2, 3, 5])
    roots = []
    for i in range(depth + 1):
        _layer(tmp_path / f"l{i}", rng)
        roots.append(str(tmp_path / f"l{i}"))
    layers = make_layers(roots[1:], roots[0])
    paths = [f"/{d}/{n}".replace("//", "/") for d in DIRS for n in (*NAMES, "d", "e", "f", "zz")]
    for follow in (True, False):
        cache = LowerCache()
        for _round in range(3):  # cold, then memo and index built, then warm
            for path in paths:
                want = resolve(layers, path, follow=follow)
                got = resolve(layers, path, follow=follow, cache=cache)
                assert _shape(got) == _shape(want), (seed, follow, path)


def _deep_view(tmp_path: Path, depth: int) -> UnionView:
    lowers = []
    for i in range(depth):
        d = tmp_path / f"l{i}" / "dir"
        d.mkdir(parents=True)
        (d / f"f{i}").write_text(str(i))
        lowers.append(str(tmp_path / f"l{i}"))
    return UnionView(lowers)


def test_miss_costs_no_lower_probe_at_any_depth(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    v = _deep_view(tmp_path, 128)
    for name in ("m1", "m2", "f3"):  # the second miss builds the name index
        v.exists(f"/dir/{name}")
    calls: list[str] = []
    real_lstat = os.lstat

    def counting(path: str, *a: object, **k: object) -> os.stat_result:
        calls.append(str(path))
        return real_lstat(path, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "lstat", counting)
    assert not v.exists("/dir/never")
    assert calls == []
    assert v.read_bytes("/dir/f100") == b"100"
    assert v.lookup("/dir/f127").layer == 128
    assert len(calls) <= 4, calls  # only the layers holding the names were probed


def test_top_lower_object_lstat_is_fresh(tmp_path: Path) -> None:
    v = _deep_view(tmp_path, 3)
    real = tmp_path / "l2" / "dir" / "f2"
    assert v.lstat("/dir/f2").st_mtime_ns == real.lstat().st_mtime_ns
    os.utime(real, ns=(1_000_000_000, 2_000_000_000))  # as a read moves atime
    assert v.lstat("/dir/f2").st_atime_ns == 1_000_000_000
    assert v.lstat("/dir").st_nlink == 1  # merged dir, from the memo


def test_upper_changes_seen_through_the_memo(tmp_path: Path) -> None:
    low = tmp_path / "low"
    (low / "d").mkdir(parents=True)
    (low / "d" / "x").write_text("low")
    up, work = tmp_path / "up", tmp_path / "work"
    up.mkdir()
    work.mkdir()
    v = UnionView([str(low)], str(up), str(work), whiteouts=WhiteoutFormat.OCI)
    for _ in range(2):
        assert v.read_bytes("/d/x") == b"low"
        assert not v.exists("/d/y")
    v.unlink("/d/x")
    assert not v.exists("/d/x")
    v.write_bytes("/d/x", b"up")
    v.write_bytes("/d/y", b"new")
    assert (v.read_bytes("/d/x"), v.read_bytes("/d/y")) == (b"up", b"new")
    assert sorted(v.listdir("/d")) == ["x", "y"]


def test_index_lists_oci_whiteouts_and_refuses_unlistable_dirs(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "n").write_text("")
    (a / ".wh.gone").touch()
    (b / "n").write_text("")
    layers = make_layers([str(a), str(b)])
    stack = resolve(layers, "/").final.sources
    index = build_index(stack, 1 << 20)
    assert index is not None
    assert index["n"] == (0, 1) and index["gone"] == (0,)
    assert build_index(stack, 0) is None  # over the byte limit
    (b / "n").unlink()
    b.rmdir()
    assert build_index(stack, 1 << 20) is None


def test_dir_cache_survives_creates_and_follows_dir_changes(tmp_path: Path) -> None:
    low = tmp_path / "low"
    (low / "d" / "sub").mkdir(parents=True)
    (low / "d" / "x").write_text("x")
    (low / "d" / "sub" / "y").write_text("y")
    os.symlink("d", low / "l")
    up, work = tmp_path / "up", tmp_path / "work"
    up.mkdir()
    work.mkdir()
    v = UnionView([str(low)], str(up), str(work))
    cache = v._eng.cache
    assert v.read_bytes("/l/x") == b"x"
    os.close(v.create("/d/new"))  # copies /d up: a change of a directory
    assert v.lookup("/l/new").layer == 0 and v.lookup("/l/sub/y").layer == 1
    assert v.exists("/d/x") and cache.get("/d") is not None
    os.close(v.create("/d/new2"))  # /d already upper: the cache is kept
    v.unlink("/d/new2")
    assert cache.get("/d") is not None
    v.unlink("/l")  # a symlink removed: paths through it are gone
    assert not v.exists("/l/x")
    v.symlink("d/sub", "/l")
    assert v.read_bytes("/l/y") == b"y" and not v.exists("/l/x")
    v.rename("/d/sub/y", "/d/sub/z")
    assert v.listdir("/l") == ["z"]
