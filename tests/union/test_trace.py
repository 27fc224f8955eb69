"""`trace()`: per-layer states, winners and explanations; checked against kernel mounts."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from kstack import DIR, OPAQUE, WHITEOUT, Spec, build, needs_root, overlay, readonly_view

from layerfs.errors import InvalidOption
from layerfs.union import Trace
from layerfs.union.layerstack import children, lookup, make_layers, resolve
from layerfs.union.trace import trace, trace_layers


def stack(tmp_path: Path, *specs: Spec) -> list[str]:
    """Layers top first; the first spec is the upperdir."""
    return [str(build(tmp_path / f"layer{i}", spec)) for i, spec in enumerate(specs)]


def states(t: Trace) -> list[str]:
    return [r.state for r in t.rows]


@pytest.fixture
def lab(tmp_path: Path) -> tuple[str, list[str]]:
    """The seed's lab after its actions: upper over two lowers."""
    up, l1, l2 = stack(
        tmp_path,
        {"/modify.txt": "changed\n", "/delete.txt": WHITEOUT, "/new.txt": "new\n"},
        {"/modify.txt": "top\n"},
        {"/base.txt": "base\n", "/modify.txt": "orig\n", "/delete.txt": "bye\n"},
    )
    return up, [l1, l2]


def test_seed_lab_rows_and_summaries(lab: tuple[str, list[str]]) -> None:
    up, lowers = lab
    t = trace_layers(lowers, up, "/modify.txt")
    assert states(t) == ["file", "hidden", "hidden"]
    assert t.winner == 0 and t.rows[0].size == 8 and t.rows[0].visible
    assert t.rows[1].reason == "/modify.txt is a file in upperdir"
    base = trace_layers(lowers, up, "base.txt")
    assert (states(base), base.winner) == (["absent", "absent", "file"], 2)
    assert base.summary == (
        f"/base.txt: read: served from lowerdir 2 ({lowers[1]}/base.txt); "
        "a write would copy it up to upperdir first"
    )
    gone = trace(lowers, up, "/delete.txt")
    assert (states(gone), gone.winner, gone.error) == (
        ["whiteout", "absent", "hidden"], None, "ENOENT")
    assert "deleted by a whiteout in upperdir" in gone.summary
    new = trace(lowers, up, "/new.txt")
    assert new.summary.endswith("writes go to that file directly (already in upperdir)")
    assert new.explain().splitlines()[1].endswith("a file of 4 bytes  <- shown")
    assert new.to_dict()["rows"][0]["state"] == "file"


def test_read_only_stack(lab: tuple[str, list[str]]) -> None:
    _, lowers = lab
    t = trace_layers(lowers, None, "/modify.txt")
    assert [r.index for r in t.rows] == [1, 2]
    assert t.winner == 1 and "read-only" in t.summary


def test_hidden_by_ancestor_whiteout_opaque_and_file(tmp_path: Path) -> None:
    up, l1, l2 = stack(
        tmp_path,
        {"/gone": WHITEOUT, "/op": OPAQUE, "/op/mine": "m"},
        {"/file": "I am a file", "/op/x": "x"},
        {"/gone/child": "c", "/op/x": "old", "/file/child": "c"},
    )
    t = trace_layers([l1, l2], up, "/gone/child")
    assert (states(t), t.error) == (["absent", "absent", "hidden"], "ENOENT")
    assert t.rows[2].reason == "/gone is a whiteout in upperdir"
    assert t.reason == "/gone is deleted by a whiteout in upperdir"
    t = trace_layers([l1, l2], up, "/op/x")
    assert states(t) == ["absent", "hidden", "hidden"]
    assert t.rows[1].reason == "/op is an opaque directory in upperdir"
    t = trace_layers([l1, l2], up, "/op")
    assert (states(t), t.winner) == (["opaque dir", "hidden", "hidden"], 0)
    t = trace_layers([l1, l2], up, "/file/child")
    assert (states(t), t.error) == (["absent", "absent", "hidden"], "ENOTDIR")
    assert t.reason == "/file is a file in lowerdir 1, not a directory"


def test_non_directory_below_directory_is_hidden(tmp_path: Path) -> None:
    up, low = stack(tmp_path, {"/x": DIR, "/x/a": "a"}, {"/x": "a file"})
    t = trace_layers([low], up, "/x")
    assert states(t) == ["dir", "hidden"]
    assert t.rows[1].reason == "a file below the directory of upperdir is ignored"


def test_merged_directory(tmp_path: Path) -> None:
    l1, l2 = stack(tmp_path, {"/d/a": "1"}, {"/d/b": "2"})
    t = trace_layers([l1, l2], None, "/d")
    assert (states(t), [r.visible for r in t.rows]) == (["dir", "dir"], [True, True])
    assert "merged from lowerdir 1" in t.summary and "lowerdir 2" in t.summary


def test_relative_and_absolute_redirects(tmp_path: Path) -> None:
    up, l1, l2 = stack(
        tmp_path,
        {"/new": ("redirect", "old"), "/old": WHITEOUT},
        {"/old/f": "from l1", "/x/y": ("redirect", "/z/w")},
        {"/z/w/g": "from l2", "/x/y/g": "shadowed"},
    )
    t = trace_layers([l1, l2], up, "/new/f")
    assert t.winner == 1 and t.rows[1].realpath == f"{l1}/old/f"
    t = trace_layers([l1, l2], up, "/new")
    assert t.rows[0].state == "redirect" and t.rows[0].redirect == "old"
    assert trace_layers([l1, l2], up, "/old/f").winner is None
    t = trace_layers([l1, l2], up, "/x/y/g")
    assert t.winner == 2 and t.rows[2].realpath == f"{l2}/z/w/g"
    nofollow = trace_layers([l1, l2], up, "/new/f", redirect_follow=False)
    assert (nofollow.winner, nofollow.error) == (None, "EPERM")


def test_symlinks_in_the_middle_resolve_inside_the_union(tmp_path: Path) -> None:
    up, low = stack(
        tmp_path,
        {"/real/f": "up"},
        {"/abs": ("symlink", "/real"), "/rel": ("symlink", "real/../real"),
         "/loop": ("symlink", "/loop"), "/real/g": "low"},
    )
    t = trace_layers([low], up, "/abs/f")
    assert (t.path, t.winner) == ("/real/f", 0)
    assert trace_layers([low], up, "/rel/g").path == "/real/g"
    t = trace_layers([low], up, "/abs")
    assert (states(t), t.winner) == (["absent", "symlink"], 1)
    assert trace_layers([low], up, "/loop/x").error == "ELOOP"
    assert trace_layers([low], up, "/real/../real/./g").path == "/real/g"


def test_root_and_bad_layers(tmp_path: Path) -> None:
    (low,) = stack(tmp_path, {"/a": "a"})
    t = trace_layers([low], None, "/")
    assert (t.path, t.winner, states(t)) == ("/", 1, ["dir"])
    with pytest.raises(InvalidOption, match="is not a directory"):
        trace_layers([low, str(tmp_path / "nope")], None, "/a")


@needs_root
def test_metacopy_file_reads_data_from_below(tmp_path: Path) -> None:
    low = build(tmp_path / "low", {"/f": "data\n"})
    upper, work = tmp_path / "u", tmp_path / "w"
    upper.mkdir()
    work.mkdir()
    with overlay(tmp_path / "m", [low], upper, work, "metacopy=on") as m:
        os.chmod(m / "f", 0o600)
        t = trace_layers([str(low)], str(upper), "/f")
        assert (states(t), t.winner, [r.visible for r in t.rows]) == (
            ["file", "file"], 0, [True, True])
        assert t.rows[0].reason.startswith("metadata only (metacopy)")
        assert t.summary == (
            f"/f: read: served from lowerdir 1 ({low}/f), metadata from upperdir (metacopy); "
            "a write would first copy the data up into the upperdir file"
        )


# ------------------------------------------------------------------ kernel differential


def _random_layer(rng: random.Random, root: Path) -> Path:
    names = ["a", "b", "c"]
    spec: dict[str, object] = {}
    kinds = ["file", "dir", "dir", "whiteout", "opaque", "symlink", "redirect"]
    for _ in range(rng.randint(2, 7)):
        path = "/" + "/".join(rng.choice(names) for _ in range(rng.randint(1, 3)))
        kind = rng.choice(kinds)
        value: object = {
            "file": f"{root.name}{path}",
            "dir": DIR,
            "whiteout": WHITEOUT,
            "opaque": OPAQUE,
            "symlink": ("symlink", rng.choice(names)),
            "redirect": ("redirect", rng.choice(["/a", "/b/c", "c"])),
        }[kind]
        is_dir = value in (DIR, OPAQUE) or (isinstance(value, tuple) and value[0] == "redirect")
        clash = any(
            p == path
            or (path.startswith(p + "/") and not _is_dir(v))
            or (p.startswith(path + "/") and not is_dir)
            for p, v in spec.items()
        )
        if not clash:
            spec[path] = value
    return build(root, spec)


def _is_dir(v: object) -> bool:
    return v in (DIR, OPAQUE) or (isinstance(v, tuple) and v[0] == "redirect")


def _union_listing(layers: list[str], path: str) -> set[str]:
    lay = make_layers(layers[1:], layers[0])
    step = resolve(lay, path).final
    return {n for n in children(step) if lookup(step, n, lay).found}


@needs_root
@pytest.mark.parametrize("seed", range(50))
def test_random_stacks_match_the_kernel(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    layers = [_random_layer(rng, tmp_path / f"L{i}") for i in range(rng.randint(2, 4))]
    names = ["a", "b", "c"]
    paths = ["/" + "/".join(p) for p in
             ([x] for x in names)] + [f"/{x}/{y}" for x in names for y in names] + [
             f"/{x}/{y}/{z}" for x in names for y in names for z in names]
    upper, lowers = str(layers[0]), [str(p) for p in layers[1:]]
    with readonly_view(tmp_path / "merged", layers, tmp_path / "spare") as merged:
        for path in paths:
            t = trace_layers(lowers, upper, path)
            real = merged / path.lstrip("/")
            exists = os.path.lexists(real)
            assert (t.winner is not None) == exists, (path, t.explain())
            if not exists:
                continue
            top = t.row(t.winner)  # type: ignore[arg-type]
            if real.is_symlink():
                assert top.state == "symlink"
                assert os.readlink(real) == os.readlink(top.realpath)
            elif real.is_file():
                assert top.state == "file"
                assert real.read_text() == Path(top.realpath).read_text(), path
            else:
                assert top.state in ("dir", "opaque dir", "redirect")
                # the kernel lists a whiteout of a single-layer directory as is (that
                # directory is "real": readdir passes through) but cannot look it up
                shown = {n for n in os.listdir(real) if os.path.lexists(real / n)}
                assert _union_listing([upper, *lowers], path) == shown, (path, t.explain())
