"""UnionView reading: lookup, readdir, whiteout forms, opaque dirs, redirects, paths, errors."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from kstack import DIR, OPAQUE, WHITEOUT, build

from layerfs.errors import InvalidOption
from layerfs.union import EntryKind, UnionView, WhiteoutFormat
from layerfs.union.whiteouts import make_opaque, make_whiteout


def view(tmp_path: Path, *lowers: dict[str, object], upper: dict[str, object] | None = None,
         **kw: object) -> UnionView:
    """A view over `lowers` (top first) and an upperdir built from `upper` (may be empty)."""
    dirs = [str(build(tmp_path / f"l{i}", spec)) for i, spec in enumerate(lowers, start=1)]
    if upper is None:
        return UnionView(dirs, **kw)  # type: ignore[arg-type]
    up = build(tmp_path / "upper", upper)
    (tmp_path / "work").mkdir()
    return UnionView(dirs, str(up), str(tmp_path / "work"), **kw)  # type: ignore[arg-type]


def names(v: UnionView, path: str) -> dict[str, str]:
    return {e.name: e.kind.value for e in v.readdir(path)}


def errno_of(fn: object, *args: object) -> int:
    with pytest.raises(OSError) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.errno or 0


def test_lookup_top_down_and_node_fields(tmp_path: Path) -> None:
    v = view(tmp_path, {"/a": "top", "/d/x": "1"}, {"/a": "bottom", "/d/y": "2", "/b": "b"},
             upper={"/d/z": "3"})
    node = v.lookup("/a")
    assert (node.layer, node.kind, v.read_bytes("/a")) == (1, EntryKind.FILE, b"top")
    assert node.realpath == str(tmp_path / "l1" / "a") and node.sources == (node.realpath,)
    d = v.lookup("d/")
    assert d.path == "/d" and d.layer == 0 and d.layers == (0, 1, 2)
    assert d.st.st_nlink == 1  # merged directory
    assert names(v, "/d") == {"z": "file", "x": "file", "y": "file"}
    assert v.lstat("/").st_nlink == 1 and v.exists("/b") and not v.exists("/nope")


def test_whiteouts_of_every_form_hide_lower_names(tmp_path: Path) -> None:
    l1 = tmp_path / "l1"
    l1.mkdir()
    make_whiteout(str(l1), "dev", WhiteoutFormat.KERNEL)
    make_whiteout(str(l1), "oci", WhiteoutFormat.OCI)
    make_whiteout(str(l1), "xat", WhiteoutFormat.XATTR)
    l2 = build(tmp_path / "l2", {"/dev": "1", "/oci": DIR, "/xat": "3", "/keep": "4"})
    v = UnionView([str(l1), str(l2)])
    assert names(v, "/") == {"keep": "file"}
    for name in ("dev", "oci", "xat"):
        assert errno_of(v.lstat, "/" + name) == errno.ENOENT


def test_opaque_dir_stops_descent_and_non_dir_hides_dirs(tmp_path: Path) -> None:
    v = view(tmp_path, {"/o": OPAQUE, "/o/mine": "m", "/f": "file over dir"},
             {"/o/theirs": "t", "/f/inside": "i"})
    assert names(v, "/o") == {"mine": "file"}
    assert errno_of(v.lstat, "/o/theirs") == errno.ENOENT
    assert v.lookup("/f").kind is EntryKind.FILE
    assert errno_of(v.lstat, "/f/inside") == errno.ENOTDIR


def test_whiteout_at_root_hides_only_that_name(tmp_path: Path) -> None:
    """fuse-overlayfs#151: a whiteout at the root hid every same-named file below."""
    v = view(tmp_path, {"/name": WHITEOUT}, {"/name": "x", "/d/name": "deep"})
    assert not v.exists("/name")
    assert v.read_bytes("/d/name") == b"deep"


def test_redirect_is_followed_on_lookup(tmp_path: Path) -> None:
    v = view(tmp_path, {"/new": ("redirect", "old"), "/old": WHITEOUT,
                        "/abs": ("redirect", "/deep/er")},
             {"/old/f": "moved", "/deep/er/g": "far"})
    assert names(v, "/") == {"new": "dir", "abs": "dir", "deep": "dir"}
    assert v.read_bytes("/new/f") == b"moved"
    assert v.read_bytes("/abs/g") == b"far"


def test_readdir_kinds_and_markers_hidden(tmp_path: Path) -> None:
    v = view(tmp_path, {"/d/s": ("symlink", "x"), "/d/.wh.gone": "", "/d/sub": DIR},
             {"/d/gone": "g", "/d/f": "f"}, upper={})
    os.mkfifo(tmp_path / "l2" / "d" / "p")
    assert names(v, "/d") == {"s": "symlink", "sub": "dir", "f": "file", "p": "special"}
    assert v.listdir("/d") == [e.name for e in v.readdir("/d")]


def test_real_single_layer_dir_lists_its_whiteouts_like_the_kernel(tmp_path: Path) -> None:
    v = view(tmp_path, {"/only/w": WHITEOUT, "/only/f": "f"}, {"/other": "o"})
    assert names(v, "/only") == {"w": "special", "f": "file"}
    assert not v.exists("/only/w")


def test_symlinks_resolve_inside_the_union(tmp_path: Path) -> None:
    v = view(tmp_path, {"/abs": ("symlink", "/etc"), "/rel": ("symlink", "../etc/"),
                        "/loop": ("symlink", "loop"), "/etc/hosts": "union hosts"}, {})
    assert v.read_bytes("/abs/hosts") == b"union hosts"
    assert v.read_bytes("/rel/hosts") == b"union hosts"
    assert v.lookup("/abs").kind is EntryKind.SYMLINK and v.readlink("/abs") == "/etc"
    assert v.stat("/abs").st_mode == v.lstat("/etc").st_mode
    assert errno_of(v.stat, "/loop") == errno.ELOOP
    w = view(tmp_path / "w", {"/b": ("symlink", "/b/a"), "/c": ("symlink", "c/x")})
    assert errno_of(w.lstat, "/b/a/f") == errno.ELOOP
    assert errno_of(w.lstat, "/c/y") == errno.ELOOP
    assert errno_of(v.readlink, "/etc") == errno.EINVAL


def test_path_errors(tmp_path: Path) -> None:
    v = view(tmp_path, {"/f": "x"})
    assert errno_of(v.lstat, "/a\0b") == errno.EINVAL
    assert errno_of(v.lstat, "/" + "n" * 256) == errno.ENAMETOOLONG
    assert errno_of(v.lstat, "/" + "n" * 255) == errno.ENOENT
    assert errno_of(v.lstat, ("/" + "d" * 200) * 21) == errno.ENAMETOOLONG
    assert errno_of(v.lstat, "/f/x") == errno.ENOTDIR
    assert errno_of(v.readdir, "/f") == errno.ENOTDIR


def test_readonly_view_refuses_writes(tmp_path: Path) -> None:
    v = view(tmp_path, {"/f": "x", "/d": DIR})
    assert v.readonly
    for call, args in [(v.unlink, ("/f",)), (v.mkdir, ("/n",)), (v.chmod, ("/f", 0o600)),
                       (v.rename, ("/f", "/g")), (v.rmdir, ("/d",)), (v.copy_up, ("/f",))]:
        assert errno_of(call, *args) == errno.EROFS
    assert errno_of(v.open, "/f", os.O_WRONLY) == errno.EROFS
    assert v.statfs().f_bsize > 0


def test_xattrs_visible_escaped_and_private_hidden(tmp_path: Path) -> None:
    v = view(tmp_path, {"/f": "x", "/o": OPAQUE})
    f = tmp_path / "l1" / "f"
    os.setxattr(f, "user.a", b"1")
    os.setxattr(f, "trusted.overlay.overlay.esc", b"2")
    os.setxattr(f, "trusted.overlay.origin", b"")
    assert sorted(v.listxattr("/f")) == ["trusted.overlay.esc", "user.a"]
    assert v.getxattr("/f", "trusted.overlay.esc") == b"2"
    assert "trusted.overlay.opaque" not in v.listxattr("/o")
    assert errno_of(v.getxattr, "/f", "user.none") == errno.ENODATA


def test_trace_delegates(tmp_path: Path) -> None:
    v = view(tmp_path, {"/f": "x"}, {"/f": "yy"}, upper={})
    t = v.trace("/f")
    assert t.winner == 1 and [r.state for r in t.rows][:2] == ["absent", "file"]


@pytest.mark.parametrize("case", ["missing", "file", "upper-in-lower", "lower-in-upper",
                                  "same", "nested-work", "nul", "half", "none"])
def test_constructor_validation(tmp_path: Path, case: str) -> None:
    low, up, work = tmp_path / "low", tmp_path / "up", tmp_path / "work"
    for d in (low, up, work):
        d.mkdir()
    (tmp_path / "file").write_text("x")
    lowers, upper, wdir = [str(low)], str(up), str(work)
    if case == "missing":
        lowers = [str(tmp_path / "nope")]
    elif case == "file":
        lowers = [str(tmp_path / "file")]
    elif case == "upper-in-lower":
        (low / "u").mkdir()
        upper = str(low / "u")
    elif case == "lower-in-upper":
        (up / "l").mkdir()
        lowers = [str(up / "l")]
    elif case == "same":
        wdir = upper
    elif case == "nested-work":
        (up / "w").mkdir()
        wdir = str(up / "w")
    elif case == "nul":
        lowers = [str(low) + "\0x"]
    elif case == "half":
        wdir = None  # type: ignore[assignment]
    elif case == "none":
        lowers = []
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(InvalidOption) as info:
        UnionView(lowers, upper, wdir)
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_workdir_on_another_filesystem(tmp_path: Path) -> None:
    if not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system to put a workdir on")
    low, up = tmp_path / "low", tmp_path / "up"
    low.mkdir()
    up.mkdir()
    work = Path(os.path.realpath("/dev/shm")) / f"lfs-work-{os.getpid()}-{tmp_path.name}"
    work.mkdir()
    try:
        with pytest.raises(InvalidOption, match="another file system"):
            UnionView([str(low)], str(up), str(work))
        assert not (work / "work").exists()
    finally:
        work.rmdir()


def test_constructor_creates_workdir_work(tmp_path: Path) -> None:
    v = view(tmp_path, {"/f": "x"}, upper={})
    assert v.workdir is not None
    st = os.stat(os.path.join(v.workdir, "work"))
    assert st.st_mode & 0o777 == 0
    make_opaque(str(tmp_path / "upper"), WhiteoutFormat.KERNEL)  # opaque upper root: ignored
    assert v.exists("/f")
