"""UnionView rename: files, directories (EXDEV / redirect_dir), targets, errors; and the
upper dir it leaves compared with a kernel overlay mount doing the same renames."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from kstack import DIR, build, needs_root, overlay

from layerfs.union import UnionView
from layerfs.union.whiteouts import is_device_whiteout, is_opaque, redirect_of

LOWER = {"/a/f": "f", "/a/sub/g": "g", "/b/h": "h", "/top": "t", "/e/x/y": "y", "/c": DIR}


def make(tmp_path: Path, lower: dict[str, object] | None = None, **kw: object) -> UnionView:
    low = build(tmp_path / "low", lower if lower is not None else LOWER)
    for d in ("upper", "work"):
        (tmp_path / d).mkdir()
    return UnionView([str(low)], str(tmp_path / "upper"), str(tmp_path / "work"),
                     **kw)  # type: ignore[arg-type]


def up(tmp_path: Path, rel: str) -> str:
    return str(tmp_path / "upper" / rel.lstrip("/"))


def whiteout_at(tmp_path: Path, rel: str) -> bool:
    try:
        return is_device_whiteout(os.lstat(up(tmp_path, rel)))
    except FileNotFoundError:
        return False


def errno_of(fn: Callable[..., object], *args: object) -> int:
    with pytest.raises(OSError) as info:
        fn(*args)
    return info.value.errno or 0


def test_file_rename_copies_up_and_whites_out(tmp_path: Path) -> None:
    v = make(tmp_path)
    v.rename("/top", "/b/top2")
    assert v.read_bytes("/b/top2") == b"t" and not v.exists("/top")
    assert whiteout_at(tmp_path, "/top")
    v.write_bytes("/mine", b"m")
    v.rename("/mine", "/mine2")
    assert sorted(os.listdir(tmp_path / "upper")) == ["b", "mine2", "top"]


def test_file_rename_onto_existing_and_onto_whiteout(tmp_path: Path) -> None:
    v = make(tmp_path)
    v.rename("/a/f", "/b/h")
    assert v.read_bytes("/b/h") == b"f" and whiteout_at(tmp_path, "/a/f")
    v.unlink("/top")
    v.rename("/b/h", "/top")
    assert v.read_bytes("/top") == b"f" and whiteout_at(tmp_path, "/b/h")


def test_directory_rename_without_redirect_dir(tmp_path: Path) -> None:
    v = make(tmp_path)
    assert errno_of(v.rename, "/a", "/z") == errno.EXDEV
    assert errno_of(v.rename, "/a/sub", "/c/sub") == errno.EXDEV
    v.mkdir("/new")
    v.write_bytes("/new/f", b"1")
    v.rename("/new", "/c/moved")  # upper-only: moves, and is opaque in a merged parent
    assert v.read_bytes("/c/moved/f") == b"1" and is_opaque(up(tmp_path, "/c/moved"))


def test_directory_rename_with_redirect_dir(tmp_path: Path) -> None:
    v = make(tmp_path, redirect_dir=True)
    v.rename("/a", "/a2")
    assert redirect_of(up(tmp_path, "/a2")) == "a" and whiteout_at(tmp_path, "/a")
    assert sorted(v.listdir("/a2")) == ["f", "sub"]
    v.rename("/a2/sub", "/b/s")
    assert redirect_of(up(tmp_path, "/b/s")) == "/a/sub"
    assert v.read_bytes("/b/s/g") == b"g"
    v.rename("/e", "/b/e3")
    v.rename("/b/e3", "/c/e3")
    assert redirect_of(up(tmp_path, "/c/e3")) == "/e"  # an absolute redirect is kept
    assert v.read_bytes("/c/e3/x/y") == b"y"
    again = UnionView([str(tmp_path / "low")], str(tmp_path / "upper"), str(tmp_path / "work"))
    assert again.read_bytes("/b/s/g") == b"g" and not again.exists("/e")


def test_directory_rename_redirect_too_long_is_exdev(tmp_path: Path) -> None:
    deep = "/" + "/".join(["d" * 60] * 5)
    v = make(tmp_path, {deep + "/f": "x", "/t": DIR}, redirect_dir=True)
    assert errno_of(v.rename, deep, "/t/moved") == errno.EXDEV


def test_rename_errors(tmp_path: Path) -> None:
    v = make(tmp_path)
    v.mkdir("/u")
    v.mkdir("/u/inner")
    v.mkdir("/full")
    v.write_bytes("/full/x", b"")
    assert errno_of(v.rename, "/none", "/x") == errno.ENOENT
    assert errno_of(v.rename, "/top", "/c") == errno.EISDIR
    assert errno_of(v.rename, "/u", "/top") == errno.ENOTDIR
    assert errno_of(v.rename, "/u", "/u/inner/x") == errno.EINVAL
    assert errno_of(v.rename, "/u", "/full") == errno.ENOTEMPTY
    assert errno_of(v.rename, "/u/inner", "/u") == errno.ENOTEMPTY
    assert errno_of(v.rename, "/", "/x") == errno.EBUSY
    v.rename("/top", "/top")
    assert v.exists("/top")


def test_rename_dir_onto_empty_merged_dir(tmp_path: Path) -> None:
    v = make(tmp_path, {"/t/old": "o", "/c": DIR})
    v.unlink("/t/old")
    v.mkdir("/n")
    v.rename("/n", "/t")
    assert v.listdir("/t") == [] and is_opaque(up(tmp_path, "/t"))
    assert not os.listdir(up(tmp_path, "/t"))


# --------------------------------------------------------------------------- vs the kernel


def upper_state(root: Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Names of an upper dir with their type and overlay xattrs (origin/uuid values out)."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            kind = "whiteout" if is_device_whiteout(st) else oct(st.st_mode >> 12)
            xs = []
            for x in sorted(os.listxattr(p, follow_symlinks=False)):
                if x.endswith(".uuid"):
                    continue
                value = b"" if x.endswith(".origin") else os.getxattr(p, x, follow_symlinks=False)
                xs.append(f"{x}={value!r}")
            out[os.path.relpath(p, root)] = (kind, tuple(xs))
    rootx = tuple(x for x in sorted(os.listxattr(root)) if not x.endswith(".uuid"))
    out["."] = ("dir", rootx)
    return out


RENAMES = [("/a", "/a2"), ("/e", "/b/e3"), ("/b/e3", "/c/e3"), ("/a2/sub", "/b/s"),
           ("/top", "/c/top"), ("/b/h", "/b/h2")]


@needs_root
@pytest.mark.parametrize("redirect", [True, False])
def test_renames_leave_the_kernels_upper_dir(tmp_path: Path, redirect: bool) -> None:
    kdir, ldir = tmp_path / "k", tmp_path / "l"
    for base in (kdir, ldir):
        build(base / "low", LOWER)
        (base / "upper").mkdir()
        (base / "work").mkdir()
    extra = "redirect_dir=on" if redirect else ""
    k_errors, l_errors = [], []
    with overlay(kdir / "m", [kdir / "low"], kdir / "upper", kdir / "work", extra) as m:
        for old, new in RENAMES:
            try:
                os.rename(str(m) + old, str(m) + new)
            except OSError as e:
                k_errors.append(e.errno)
    v = UnionView([str(ldir / "low")], str(ldir / "upper"), str(ldir / "work"),
                  redirect_dir=redirect)
    for old, new in RENAMES:
        try:
            v.rename(old, new)
        except OSError as e:
            l_errors.append(e.errno)
    assert l_errors == k_errors
    assert upper_state(ldir / "upper") == upper_state(kdir / "upper")
    shutil.rmtree(kdir / "work", ignore_errors=True)


def test_rename_between_links(tmp_path: Path) -> None:
    v = make(tmp_path, {"/a/c": "data"})
    os.link(tmp_path / "low" / "a" / "c", tmp_path / "low" / "c")
    v.rename("/a/c", "/c")  # two overlay inodes (index=off): a real rename
    assert not v.exists("/a/c") and v.read_bytes("/c") == b"data"
    v.link("/c", "/d")
    v.rename("/c", "/d")  # one upper inode under two names: nothing happens
    assert v.exists("/c") and v.exists("/d")
