"""The named scenarios of issue 2 at the library level (the differential suite in
tests/conformance runs them against the kernel too)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from kstack import DIR, build

from layerfs.union import UnionView
from layerfs.union.whiteouts import is_device_whiteout, is_opaque


def stack(tmp_path: Path, *lowers: dict[str, object], **kw: object) -> UnionView:
    dirs = [str(build(tmp_path / f"l{i}", spec)) for i, spec in enumerate(lowers, start=1)]
    for d in ("upper", "work"):
        (tmp_path / d).mkdir()
    return UnionView(dirs, str(tmp_path / "upper"), str(tmp_path / "work"),
                     **kw)  # type: ignore[arg-type]


def test_seed_lab(tmp_path: Path) -> None:
    """Part 1 of the seed: base/modify/delete in the lower, then modify, delete, new."""
    v = stack(tmp_path, {"/base.txt": "base\n", "/modify.txt": "original\n",
                         "/delete.txt": "delete me\n", "/dir/nested/deep.txt": "deep\n"})
    v.write_bytes("/modify.txt", b"modified\n")
    v.unlink("/delete.txt")
    v.write_bytes("/new.txt", b"new\n")
    for path in ("/dir/nested/deep.txt",):
        v.unlink(path)
    v.rmdir("/dir/nested")
    assert sorted(v.listdir("/")) == ["base.txt", "dir", "modify.txt", "new.txt"]
    assert v.read_bytes("/modify.txt") == b"modified\n"
    upper = tmp_path / "upper"
    assert sorted(os.listdir(upper)) == ["delete.txt", "dir", "modify.txt", "new.txt"]
    assert is_device_whiteout(os.lstat(upper / "delete.txt"))
    assert is_device_whiteout(os.lstat(upper / "dir" / "nested"))
    assert (tmp_path / "l1" / "modify.txt").read_text() == "original\n"
    assert v.trace("/delete.txt").winner is None


def test_names_of_255_and_256_bytes(tmp_path: Path) -> None:
    v = stack(tmp_path, {})
    ok, too_long = "n" * 255, "n" * 256
    v.write_bytes("/" + ok, b"x")
    v.mkdir("/d" + "é" * 126)  # 1 + 252 bytes in UTF-8
    assert v.read_bytes("/" + ok) == b"x"
    for call in (v.mkdir, v.lstat, v.unlink):
        with pytest.raises(OSError) as info:
            call("/" + too_long)
        assert info.value.errno == errno.ENAMETOOLONG


def test_paths_near_path_max(tmp_path: Path) -> None:
    comps = [f"c{i:02d}" + "x" * 246 for i in range(16)]  # 16 * 250 bytes
    deep = "/" + "/".join(comps)
    v = stack(tmp_path, {})
    fd = os.open(tmp_path / "l1", os.O_PATH | os.O_DIRECTORY)
    for comp in comps:  # fd-relative: the real path is longer than PATH_MAX
        os.mkdir(comp, dir_fd=fd)
        nfd = os.open(comp, os.O_PATH | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    wfd = os.open("f" * 60, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(wfd, b"deep file")
    os.close(wfd)
    os.close(fd)
    leaf = deep + "/" + "f" * 60
    assert len(os.fsencode(leaf)) > 4000 and len(str(tmp_path) + leaf) > 4096
    assert v.read_bytes(leaf) == b"deep file"
    v.write_bytes(leaf, b"changed")  # copy-up of the whole chain of parents
    v.rename(leaf, deep + "/g")
    assert v.listdir(deep) == ["g"] and v.read_bytes(deep + "/g") == b"changed"
    v.unlink(deep + "/g")
    assert v.listdir(deep) == []
    with pytest.raises(OSError) as info:
        v.lstat(deep + "/" + "y" * (4096 - len(deep)))
    assert info.value.errno == errno.ENAMETOOLONG


def test_500_lower_layers(tmp_path: Path) -> None:
    lowers = []
    for i in range(500):
        d = tmp_path / "layers" / f"{i:03d}"
        d.mkdir(parents=True)
        (d / f"f{i:03d}").write_text(str(i))
        lowers.append(str(d))
    (tmp_path / "layers" / "499" / "shared").write_text("bottom")
    (tmp_path / "layers" / "000" / "shared").write_text("top")
    for d in ("upper", "work"):
        (tmp_path / d).mkdir()
    v = UnionView(lowers, str(tmp_path / "upper"), str(tmp_path / "work"))
    assert len(v.listdir("/")) == 501
    assert v.read_bytes("/shared") == b"top" and v.read_bytes("/f499") == b"499"
    assert v.lookup("/f250").layer == 251
    v.unlink("/f250")
    assert not v.exists("/f250")


def test_dir_recreated_over_whiteout_hides_old_tree(tmp_path: Path) -> None:
    """buildkit#2614: rm -rf d && mkdir d must not show d's old files."""
    v = stack(tmp_path, {"/d/sub/x": "x", "/d/y": "y"}, {"/d/z": "z"})
    v.unlink("/d/sub/x")
    v.rmdir("/d/sub")
    v.unlink("/d/y")
    v.unlink("/d/z")
    v.rmdir("/d")
    v.mkdir("/d")
    assert v.listdir("/d") == [] and is_opaque(str(tmp_path / "upper" / "d"))
    v.write_bytes("/d/new", b"n")
    assert v.listdir("/d") == ["new"]


def test_rename_of_a_lower_dir(tmp_path: Path) -> None:
    v = stack(tmp_path, {"/old/f": "f", "/other": DIR})
    with pytest.raises(OSError) as info:
        v.rename("/old", "/new")
    assert info.value.errno == errno.EXDEV
    w = UnionView([str(tmp_path / "l1")], str(tmp_path / "upper"), str(tmp_path / "work"),
                  redirect_dir=True)
    w.rename("/old", "/other/new")
    assert w.read_bytes("/other/new/f") == b"f" and not w.exists("/old")
