"""UnionView writing: creation over whiteouts, copy-up fidelity, removal, links, attributes."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
from kstack import DIR, OPAQUE, WHITEOUT, build

from layerfs.union import EntryKind, UnionView, WhiteoutFormat
from layerfs.union.whiteouts import is_device_whiteout, is_opaque, overlay_xattr, scan_dir

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="trusted.* xattrs and chown need root")


def make(tmp_path: Path, *lowers: dict[str, object], upper: dict[str, object] | None = None,
         **kw: object) -> UnionView:
    dirs = [str(build(tmp_path / f"l{i}", spec)) for i, spec in enumerate(lowers, start=1)]
    up = build(tmp_path / "upper", upper or {})
    (tmp_path / "work").mkdir()
    return UnionView(dirs, str(up), str(tmp_path / "work"), **kw)  # type: ignore[arg-type]


def up(tmp_path: Path, rel: str) -> str:
    return str(tmp_path / "upper" / rel.lstrip("/"))


def is_whiteout(path: str) -> bool:
    try:
        return is_device_whiteout(os.lstat(path))
    except FileNotFoundError:
        return False


def upper_names(tmp_path: Path, rel: str = "/") -> list[str]:
    return sorted(os.listdir(up(tmp_path, rel)))


def errno_of(fn: object, *args: object) -> int:
    with pytest.raises(OSError) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.errno or 0


# --------------------------------------------------------------------------- creation


def test_create_in_upper_copies_parents_up(tmp_path: Path) -> None:
    v = make(tmp_path, {"/a/b": DIR})
    os.chmod(tmp_path / "l1" / "a" / "b", 0o750)
    os.utime(tmp_path / "l1" / "a", ns=(1_000_000_123, 2_000_000_456))
    v.write_bytes("/a/b/new", b"data")
    assert v.read_bytes("/a/b/new") == b"data" and v.lookup("/a/b/new").layer == 0
    assert stat.S_IMODE(os.lstat(up(tmp_path, "/a/b")).st_mode) == 0o750
    assert os.lstat(up(tmp_path, "/a")).st_mtime_ns == 2_000_000_456
    assert errno_of(v.mkdir, "/a") == errno.EEXIST
    assert errno_of(v.open, "/a/b/new", os.O_CREAT | os.O_EXCL | os.O_WRONLY) == errno.EEXIST


def test_umask_applies_to_new_objects(tmp_path: Path) -> None:
    v = make(tmp_path, {})
    old = os.umask(0o027)
    try:
        v.mkdir("/d", 0o777)
        os.close(v.create("/f", 0o666))
    finally:
        os.umask(old)
    assert stat.S_IMODE(v.lstat("/d").st_mode) == 0o750
    assert stat.S_IMODE(v.lstat("/f").st_mode) == 0o640


def test_mkdir_over_whiteout_is_opaque_without_whiteouts(tmp_path: Path) -> None:
    """buildkit#2614 / fuse-overlayfs#306: a recreated dir hides the old contents."""
    v = make(tmp_path, {"/d/old": "o", "/d/keep": "k"})
    v.unlink("/d/old")
    v.unlink("/d/keep")
    v.rmdir("/d")
    assert is_whiteout(up(tmp_path, "/d"))
    v.mkdir("/d")
    assert is_opaque(up(tmp_path, "/d")) and v.listdir("/d") == []
    assert scan_dir(up(tmp_path, "/d")).whiteouts == frozenset()


def test_mkdir_over_lower_whiteout_is_not_opaque(tmp_path: Path) -> None:
    v = make(tmp_path, {"/gone": WHITEOUT}, {"/gone/x": "x"})
    v.mkdir("/gone")
    assert not is_opaque(up(tmp_path, "/gone")) and v.listdir("/gone") == []


def test_mkdir_in_merged_parent_opaque_only_with_redirect_dir(tmp_path: Path) -> None:
    v = make(tmp_path, {"/d": DIR}, redirect_dir=True)
    v.mkdir("/d/n")
    v.mkdir("/n")
    assert is_opaque(up(tmp_path, "/d/n")) and is_opaque(up(tmp_path, "/n"))
    w = UnionView([str(tmp_path / "l1")], str(tmp_path / "upper"), str(tmp_path / "work"))
    w.mkdir("/d/m")
    assert not is_opaque(up(tmp_path, "/d/m"))


def test_symlink_over_whiteout_replaces_it(tmp_path: Path) -> None:
    """fuse-overlayfs#279: creating a symlink where a whiteout is."""
    v = make(tmp_path, {"/s": "file"})
    v.unlink("/s")
    v.symlink("target", "/s")
    assert os.readlink(up(tmp_path, "/s")) == "target" and v.readlink("/s") == "target"
    assert overlay_xattr(up(tmp_path, "/s"), "opaque") is None


def test_mknod_fifo_and_file_over_whiteout(tmp_path: Path) -> None:
    v = make(tmp_path, {"/p": "x", "/f": "y"})
    v.unlink("/p")
    v.mknod("/p", stat.S_IFIFO | 0o644)
    assert v.lookup("/p").kind is EntryKind.SPECIAL
    v.unlink("/f")
    v.write_bytes("/f", b"again")
    assert v.read_bytes("/f") == b"again" and stat.S_ISREG(os.lstat(up(tmp_path, "/f")).st_mode)


# --------------------------------------------------------------------------- copy-up


@root_only
def test_copy_up_preserves_metadata_and_sets_origin(tmp_path: Path) -> None:
    v = make(tmp_path, {"/d/f": "hello", "/d/s": ("symlink", "t")})
    f = tmp_path / "l1" / "d" / "f"
    os.chown(f, 1234, 5678)
    os.chmod(f, 0o4755)
    os.setxattr(f, "user.k", b"v")
    os.setxattr(f, "security.capability",
                bytes.fromhex("0100000200200000000000000000000000000000"))
    os.utime(f, ns=(1_111_111_111_111_111_111, 1_222_222_222_333_444_555))
    real = v.copy_up("/d/f")
    assert real == up(tmp_path, "/d/f")
    st = os.lstat(real)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o4755)
    assert os.getxattr(real, "user.k") == b"v"
    assert os.getxattr(real, "security.capability")[:4] == bytes.fromhex("01000002")
    fd = v.open("/d/f", os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"!")
    os.close(fd)
    assert v.read_bytes("/d/f") == b"hello!"
    origin = os.getxattr(real, "trusted.overlay.origin")
    assert origin[:2] == b"\x00\xfb" and origin[2] == len(origin)
    assert os.getxattr(up(tmp_path, "/d"), "trusted.overlay.impure") == b"y"
    assert os.getxattr(up(tmp_path, "/"), "trusted.overlay.impure") == b"y"
    assert os.getxattr(up(tmp_path, "/d"), "trusted.overlay.origin")[:2] == b"\x00\xfb"
    v.chown("/d/s", 7, 8)
    sst = os.lstat(up(tmp_path, "/d/s"))
    assert (sst.st_uid, os.readlink(up(tmp_path, "/d/s"))) == (7, "t")
    assert os.listdir(tmp_path / "work" / "work") == []


def test_copy_up_keeps_times_to_the_nanosecond(tmp_path: Path) -> None:
    v = make(tmp_path, {"/f": "x"})
    os.utime(tmp_path / "l1" / "f", ns=(1_500_000_000_000_000_001, 1_600_000_000_123_456_789))
    real = v.copy_up("/f")
    assert os.lstat(real).st_mtime_ns == 1_600_000_000_123_456_789
    assert os.lstat(real).st_atime_ns == 1_500_000_000_000_000_001
    assert v.copy_up("/f") == real  # idempotent


def test_copy_up_keeps_holes(tmp_path: Path) -> None:
    v = make(tmp_path, {})
    big = tmp_path / "l1" / "sparse"
    with open(big, "wb") as f:
        f.write(b"head")
        f.seek(64 << 20)
        f.write(b"middle")
        f.truncate(128 << 20)
    real = v.copy_up("/sparse")
    st = os.lstat(real)
    assert st.st_size == 128 << 20 and st.st_blocks * 512 < (4 << 20)
    with open(real, "rb") as f:
        assert f.read(4) == b"head"
        f.seek(64 << 20)
        assert f.read(6) == b"middle"


def test_open_trunc_copies_up_without_data(tmp_path: Path) -> None:
    v = make(tmp_path, {"/f": "old content"})
    fd = v.open("/f", os.O_WRONLY | os.O_TRUNC)
    os.close(fd)
    assert v.read_bytes("/f") == b"" and (tmp_path / "l1" / "f").read_text() == "old content"


def test_read_open_does_not_copy_up(tmp_path: Path) -> None:
    v = make(tmp_path, {"/f": "x", "/d": DIR})
    os.close(v.open("/f"))
    assert upper_names(tmp_path) == []
    assert errno_of(v.open, "/d", os.O_WRONLY) == errno.EISDIR


@root_only
def test_lower_hard_link_gets_no_origin(tmp_path: Path) -> None:
    v = make(tmp_path, {"/a": "shared"})
    os.link(tmp_path / "l1" / "a", tmp_path / "l1" / "b")
    v.chmod("/a", 0o600)
    assert overlay_xattr(up(tmp_path, "/a"), "origin") is None
    assert os.getxattr(up(tmp_path, "/"), "trusted.overlay.impure") == b"y"


def test_hard_link_then_write_breaks_the_link(tmp_path: Path) -> None:
    """index=off: writing through one name copies up that name only."""
    v = make(tmp_path, {"/a": "same"})
    os.link(tmp_path / "l1" / "a", tmp_path / "l1" / "b")
    v.write_bytes("/a", b"new")
    assert v.read_bytes("/b") == b"same" and v.lstat("/b").st_nlink == 2
    again = UnionView([str(tmp_path / "l1")], str(tmp_path / "upper"), str(tmp_path / "work"))
    assert (again.read_bytes("/a"), again.read_bytes("/b")) == (b"new", b"same")


def test_link_copies_up_first(tmp_path: Path) -> None:
    v = make(tmp_path, {"/f": "x", "/d": DIR})
    v.link("/f", "/g")
    assert os.lstat(up(tmp_path, "/f")).st_ino == os.lstat(up(tmp_path, "/g")).st_ino
    assert v.lstat("/g").st_nlink == 2
    assert errno_of(v.link, "/d", "/e") == errno.EPERM
    assert errno_of(v.link, "/f", "/d") == errno.EEXIST
    assert errno_of(v.link, "/none", "/x") == errno.ENOENT


# --------------------------------------------------------------------------- removal


def test_unlink_whiteout_only_where_lower_has_the_name(tmp_path: Path) -> None:
    v = make(tmp_path, {"/low": "x"}, upper={"/mine": "y"})
    v.unlink("/mine")
    v.unlink("/low")
    assert upper_names(tmp_path) == ["low"] and is_whiteout(up(tmp_path, "/low"))
    assert errno_of(v.unlink, "/low") == errno.ENOENT
    v.write_bytes("/low", b"back")
    v.unlink("/low")
    assert is_whiteout(up(tmp_path, "/low"))


def test_rmdir_rules(tmp_path: Path) -> None:
    v = make(tmp_path, {"/m/a": "a", "/e": DIR, "/f": "f"}, upper={"/u": DIR})
    assert errno_of(v.rmdir, "/m") == errno.ENOTEMPTY
    assert errno_of(v.rmdir, "/f") == errno.ENOTDIR
    assert errno_of(v.unlink, "/m") == errno.EISDIR
    assert errno_of(v.rmdir, "/") == errno.EBUSY
    v.unlink("/m/a")
    assert scan_dir(up(tmp_path, "/m")).whiteouts == {"a"}
    v.rmdir("/m")  # the upper copy only held a whiteout
    v.rmdir("/e")
    v.rmdir("/u")
    assert upper_names(tmp_path) == ["e", "m"]
    assert is_whiteout(up(tmp_path, "/m")) and is_whiteout(up(tmp_path, "/e"))


def test_nested_delete_of_a_lower_tree(tmp_path: Path) -> None:
    v = make(tmp_path, {"/t/a/b/c": "deep", "/t/x": "x"})
    for path in ("/t/a/b/c", "/t/x"):
        v.unlink(path)
    v.rmdir("/t/a/b")
    v.rmdir("/t/a")
    v.rmdir("/t")
    assert upper_names(tmp_path) == ["t"] and is_whiteout(up(tmp_path, "/t"))
    assert v.listdir("/") == []


@pytest.mark.parametrize("fmt", [WhiteoutFormat.OCI, WhiteoutFormat.XATTR])
def test_other_whiteout_formats_written(tmp_path: Path, fmt: WhiteoutFormat) -> None:
    v = make(tmp_path, {"/d/f": "x", "/e/g": "y"}, whiteouts=fmt)
    v.unlink("/d/f")
    assert v.listdir("/d") == [] and not v.exists("/d/f")
    v.unlink("/e/g")
    v.rmdir("/e")
    v.mkdir("/e")
    assert v.listdir("/e") == [] and v.lookup("/e").layer == 0


# --------------------------------------------------------------------------- attributes


def test_attribute_changes_copy_up(tmp_path: Path) -> None:
    v = make(tmp_path, {"/f": "content", "/s": ("symlink", "f")})
    v.chmod("/f", 0o600)
    assert stat.S_IMODE(os.lstat(up(tmp_path, "/f")).st_mode) == 0o600
    v.utimens("/f", ns=(5, 6_000_000_007))
    assert os.lstat(up(tmp_path, "/f")).st_mtime_ns == 6_000_000_007
    v.setxattr("/f", "user.x", b"1")
    assert v.getxattr("/f", "user.x") == b"1"
    v.removexattr("/f", "user.x")
    assert "user.x" not in v.listxattr("/f")
    v.truncate("/f", 3)
    assert v.read_bytes("/f") == b"con"
    assert errno_of(v.chmod, "/s", 0o600) == errno.EOPNOTSUPP
    v.truncate("/s", 1)  # follows the symlink, as truncate(2)
    assert v.read_bytes("/f") == b"c" and v.lookup("/s").kind is EntryKind.SYMLINK


def test_removexattr_missing_does_not_copy_up(tmp_path: Path) -> None:
    v = make(tmp_path, {"/f": "x"})
    assert errno_of(v.removexattr, "/f", "user.none") == errno.ENODATA
    assert upper_names(tmp_path) == []


@root_only
def test_setxattr_overlay_names_are_escaped(tmp_path: Path) -> None:
    v = make(tmp_path, {"/d": DIR})
    v.setxattr("/d", "trusted.overlay.foo", b"1")
    assert os.getxattr(up(tmp_path, "/d"), "trusted.overlay.overlay.foo") == b"1"
    assert v.getxattr("/d", "trusted.overlay.foo") == b"1"


def test_opaque_lower_dir_copy_up_keeps_lower_hidden(tmp_path: Path) -> None:
    v = make(tmp_path, {"/o": OPAQUE, "/o/a": "a"}, {"/o/b": "b"})
    v.write_bytes("/o/c", b"c")
    assert sorted(v.listdir("/o")) == ["a", "c"]


@root_only
def test_origin_and_impure_are_the_kernels_bytes(tmp_path: Path) -> None:
    """Same lower layer, two upper dirs: the kernel's copy-up and ours write equal values."""
    from kstack import overlay

    low = build(tmp_path / "low", {"/d/f": "x", "/d/s": ("symlink", "f"), "/e": DIR})
    for d in ("ku", "kw", "vu", "vw"):
        (tmp_path / d).mkdir()
    with overlay(tmp_path / "m", [low], tmp_path / "ku", tmp_path / "kw") as m:
        os.chmod(m / "d" / "f", 0o600)
        os.chown(m / "d" / "s", 1, 1, follow_symlinks=False)
        os.mkdir(m / "e" / "new")
    v = UnionView([str(low)], str(tmp_path / "vu"), str(tmp_path / "vw"))
    v.chmod("/d/f", 0o600)
    v.chown("/d/s", 1, 1)
    v.mkdir("/e/new")
    for rel in ("d", "d/f", "d/s", "e", "e/new", "."):
        k, ours = tmp_path / "ku" / rel, tmp_path / "vu" / rel
        for name in ("trusted.overlay.origin", "trusted.overlay.impure"):
            kv = overlay_xattr_raw(str(k), name)
            assert overlay_xattr_raw(str(ours), name) == kv, (rel, name)


def overlay_xattr_raw(path: str, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def test_writes_invalidate_cached_directories(tmp_path: Path) -> None:
    v = make(tmp_path, {"/a/b/f": "x"})
    assert v.read_bytes("/a/b/f") == b"x"  # /a and /a/b are now cached
    v.unlink("/a/b/f")
    v.rmdir("/a/b")
    v.write_bytes("/a/b", b"now a file")
    assert v.lookup("/a/b").kind is EntryKind.FILE
    with pytest.raises(NotADirectoryError):
        v.lstat("/a/b/f")
    from layerfs.union.engine import DirCache

    cache = DirCache()
    token = cache.token()
    with cache.writing():
        pass
    cache.put("/x", object(), token)  # type: ignore[arg-type]
    assert cache.get("/x") is None


def test_failed_creation_keeps_the_whiteout(tmp_path: Path) -> None:
    v = make(tmp_path, {"/n": "hidden"})
    v.unlink("/n")
    with pytest.raises(OverflowError):
        v.mknod("/n", stat.S_IFIFO | 0o644, -1)  # refused by os.mknod after the whiteout went
    assert is_whiteout(up(tmp_path, "/n")) and not v.exists("/n")


def test_open_creat_through_a_dangling_symlink_creates_the_target(tmp_path: Path) -> None:
    v = make(tmp_path, {"/link": ("symlink", "d/target"), "/d": DIR, "/loop": ("symlink", "loop")})
    fd = v.open("/link", os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    assert v.lookup("/d/target").kind is EntryKind.FILE
    assert errno_of(v.open, "/link", os.O_WRONLY | os.O_CREAT | os.O_EXCL) == errno.EEXIST
    assert errno_of(v.open, "/loop", os.O_WRONLY | os.O_CREAT) == errno.ELOOP


@root_only
def test_create_over_a_foreign_object_in_a_sticky_dir(tmp_path: Path) -> None:
    """may_create_in_sticky binds root too: EACCES before O_NOFOLLOW's ELOOP."""
    v = make(tmp_path, {"/tmp": DIR, "/tmp/link": ("symlink", "target"), "/tmp/d": DIR})
    os.chmod(tmp_path / "l1" / "tmp", 0o1777)
    v.chown("/tmp/link", 1000, 1000)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    assert errno_of(v.open, "/tmp/link", flags) == errno.EACCES
    assert errno_of(v.open, "/tmp/d", os.O_RDONLY | os.O_CREAT) == errno.EISDIR
    assert errno_of(v.mkdir, "/tmp/d") == errno.EEXIST
    v.chown("/tmp/link", 0, 0)
    assert errno_of(v.open, "/tmp/link", flags) == errno.ELOOP
