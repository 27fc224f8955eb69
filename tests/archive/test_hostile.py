"""The hostile-input corpus: every tar here is built at run time.

Each case either raises InvalidLayer (naming the member) or succeeds safely (where
docker accepts it), and in every case nothing outside the layer directory changes: a
sentinel tree next to it is compared before and after, and symlinks in the corpus point
at that sentinel (never at the real /etc).
"""

from __future__ import annotations

import io
import os
import random
import stat
import tarfile
from collections.abc import Callable

import pytest

from layerfs.archive.apply import apply_tar
from layerfs.errors import InvalidLayer
from layerfs.union.whiteouts import WhiteoutFormat, is_opaque

from .tars import M, d, f, hard, raw_header, snapshot, sym, tar_bytes, wh

FMT = WhiteoutFormat.default()


@pytest.fixture
def arena(tmp_path):
    """(layer dir, sentinel dir); asserts afterwards that only the layer dir changed."""
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "secret").write_text("secret")
    (outside / "sub" / "file").write_text("x")
    layer = tmp_path / "layer"
    layer.mkdir()
    before = snapshot(str(outside))
    yield str(layer), str(outside)
    assert snapshot(str(outside)) == before, "something outside the layer changed"
    assert sorted(os.listdir(tmp_path)) == ["layer", "outside"]


def _apply(data: bytes, layer: str, **kw) -> object:
    return apply_tar(io.BytesIO(data), layer, fmt=FMT, **kw)


def _read(*parts: str) -> str:
    with open(os.path.join(*parts)) as fh:
        return fh.read()


# each case: (id, builder(outside) -> tar bytes, expected error text or None for success)
REJECTED: list[tuple[str, Callable[[str], bytes], str]] = [
    ("absolute", lambda o: tar_bytes([f(o + "/pwned", b"x")]), "absolute"),
    ("dotdot", lambda o: tar_bytes([f("../pwned", b"x")]), "'..'"),
    ("dotdot-inner", lambda o: tar_bytes([d("a"), f("a/../../pwned", b"x")]), "'..'"),
    ("symlink-then-file", lambda o: tar_bytes([sym("link", o), f("link/pwned", b"x")]),
     "not a directory"),
    ("symlink-then-dir-chain",
     lambda o: tar_bytes([sym("a", o), d("a/b"), f("a/b/c", b"x")]), "not a directory"),
    ("symlink-relative-escape",
     lambda o: tar_bytes([sym("up", "../outside"), f("up/pwned", b"x")]), "not a directory"),
    ("hardlink-absolute", lambda o: tar_bytes([hard("h", o + "/secret")]), "absolute"),
    ("hardlink-dotdot", lambda o: tar_bytes([hard("h", "../outside/secret")]), "'..'"),
    ("hardlink-not-yet", lambda o: tar_bytes([hard("h", "later"), f("later", b"x")]),
     "not an earlier member"),
    ("hardlink-through-symlink",
     lambda o: tar_bytes([sym("l", o), hard("h", "l/secret")]), "not an earlier member"),
    ("hardlink-to-dir", lambda o: tar_bytes([d("dir"), hard("h", "dir")]),
     "not an earlier member"),
    ("hardlink-to-self", lambda o: tar_bytes([f("x", b"1"), hard("x", "x")]),
     "not an earlier member"),
    ("nul-in-name", lambda o: tar_bytes([f("a", b"x", pax={"path": "a\x00b"})]), "NUL"),
    ("component-over-255", lambda o: tar_bytes([f("x" * 300, b"x")]), "255 bytes"),
    ("path-over-PATH_MAX", lambda o: tar_bytes([f("/".join(["y" * 200] * 25), b"x")]),
     "PATH_MAX"),
    ("garbage", lambda o: os.urandom(4096), "layer tar"),
    ("garbage-after-member", lambda o: tar_bytes([f("a", b"x")])[:1024] + b"\x01" * 1024,
     "bad header"),
    ("truncated-data", lambda o: tar_bytes([f("a", b"x" * 5000)])[:2048], "a"),
    ("truncated-header", lambda o: tar_bytes([f("a", b"x"), f("b", b"y")])[:1024 + 300],
     "bad header"),
    ("huge-size-claim", lambda o: raw_header(b"big", 8**11 - 1) + b"x" * 1024, "truncated"),
    ("huge-sparse", lambda o: tar_bytes([f("sp", b"abcde", pax={
        "GNU.sparse.size": str(1 << 62), "GNU.sparse.map": "0,5"})]), "sp"),
    ("marker-claiming-huge-size", lambda o: tar_bytes([f(".wh.x", b"", pax={"size": "9" * 30})]),
     "truncated"),
    ("whiteout-dotdot", lambda o: tar_bytes([wh("a/.wh...")]), "invalid name"),
    ("whiteout-dot", lambda o: tar_bytes([wh(".wh..")]), "invalid name"),
    ("whiteout-bare", lambda o: tar_bytes([wh(".wh.")]), "invalid name"),
    ("whiteout-opq-suffix", lambda o: tar_bytes([wh(".wh..wh..opqX")]), "invalid name"),
    ("whiteout-traversal", lambda o: tar_bytes([wh("../.wh.secret")]), "'..'"),
    ("whiteout-through-symlink", lambda o: tar_bytes([sym("l", o), wh("l/.wh.secret")]),
     "not a directory"),
    ("opaque-on-symlink", lambda o: tar_bytes([sym("l", o), wh("l/.wh..wh..opq")]),
     "not a directory"),
    ("marker-as-directory", lambda o: tar_bytes([f("a/.wh.b/c", b"x")]), "used as a directory"),
    ("opaque-marker-as-directory", lambda o: tar_bytes([d(".wh..wh..opq"), f(".wh..wh..opq/x")]),
     "used as a directory"),
    ("file-as-root", lambda o: tar_bytes([f(".", b"x")]), "root"),
    ("file-named-slash", lambda o: tar_bytes([f("/", b"x")]), "absolute"),
    ("file-as-parent", lambda o: tar_bytes([f("a", b"x"), f("a/b", b"y")]),
     "not a directory"),
    ("unknown-type", lambda o: tar_bytes([M("u", b"V")]), "unsupported"),
    ("symlink-empty-target", lambda o: tar_bytes([sym("s", "")]), "empty target"),
]


@pytest.mark.parametrize("build,expect", [(b, e) for _, b, e in REJECTED],
                         ids=[i for i, _, _ in REJECTED])
def test_rejected(arena, build, expect):
    layer, outside = arena
    with pytest.raises(InvalidLayer) as err:
        _apply(build(outside), layer)
    assert expect in str(err.value)


def test_symlink_replaced_by_dir_is_safe(arena):
    layer, outside = arena
    _apply(tar_bytes([sym("a", outside), d("a"), f("a/x", b"1")]), layer)
    assert os.path.isdir(os.path.join(layer, "a")) and not os.path.islink(
        os.path.join(layer, "a"))
    assert _read(layer, "a", "x") == "1"


def test_hardlink_to_symlink_links_the_symlink(arena):
    layer, outside = arena
    _apply(tar_bytes([sym("l", outside + "/secret"), hard("h", "l")]), layer)
    h = os.path.join(layer, "h")
    assert os.path.islink(h) and os.readlink(h) == outside + "/secret"
    assert os.lstat(h).st_ino == os.lstat(os.path.join(layer, "l")).st_ino


def test_duplicate_entries_last_wins(arena):
    layer, _ = arena
    _apply(tar_bytes([f("x", b"1"), f("x", b"2"), d("y"), f("y/z", b"z"), f("y", b"file")]),
           layer)
    assert _read(layer, "x") == "2"
    assert _read(layer, "y") == "file"


def test_root_entries_are_the_layer_root(arena):
    layer, _ = arena
    _apply(tar_bytes([d(".", 0o750), d("./", 0o750), f("./a", b"1")]), layer)
    assert stat.S_IMODE(os.stat(layer).st_mode) == 0o750
    assert os.listdir(layer) == ["a"]


def test_truncated_at_a_member_boundary_is_accepted(arena):
    """Go's archive/tar (docker) accepts a tar that lacks its end-of-archive blocks."""
    layer, _ = arena
    data = tar_bytes([f("a", b"x")])[:1024]
    result = _apply(data, layer)
    assert os.listdir(layer) == ["a"]
    assert result.size == 1024


def test_device_nodes_skipped_without_privilege(arena):
    layer, _ = arena
    data = tar_bytes([M("null", tarfile.CHRTYPE, devmajor=1, devminor=3),
                      M("blk", tarfile.BLKTYPE, devmajor=7, devminor=0), f("ok", b"x")])
    result = _apply(data, layer, privileged=False)
    assert os.listdir(layer) == ["ok"]
    assert len(result.notes) == 2 and "device node skipped" in result.notes[0]


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of devices needs root")
def test_device_nodes_made_as_root(arena):
    layer, _ = arena
    _apply(tar_bytes([M("null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3)]), layer)
    st = os.lstat(os.path.join(layer, "null"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


def test_setuid_and_capabilities_policy(arena):
    layer, _ = arena
    cap = "\x01\x00\x00\x02" + "\x00" * 16
    data = tar_bytes([f("su", b"x", mode=0o4755, pax={"SCHILY.xattr.security.capability": cap}),
                      d("dir", 0o2775)])
    result = _apply(data, layer, keep_privileged=False)
    st = os.lstat(os.path.join(layer, "su"))
    assert stat.S_IMODE(st.st_mode) == 0o755
    assert "security.capability" not in os.listxattr(os.path.join(layer, "su"))
    assert stat.S_IMODE(os.lstat(os.path.join(layer, "dir")).st_mode) == 0o2775  # dirs keep
    assert any("setuid" in n for n in result.notes)


@pytest.mark.skipif(os.geteuid() != 0, reason="setuid files are kept only as root")
def test_setuid_kept_as_root(arena):
    layer, _ = arena
    _apply(tar_bytes([f("su", b"x", mode=0o4755)]), layer)
    assert stat.S_IMODE(os.lstat(os.path.join(layer, "su")).st_mode) == 0o4755


@pytest.mark.skipif(os.geteuid() != 0, reason="trusted.* xattrs need root")
@pytest.mark.parametrize("keep", [True, False])
def test_overlay_xattrs_from_a_tar_are_never_markers(arena, keep):
    layer, _ = arena
    data = tar_bytes([d("o", pax={"SCHILY.xattr.trusted.overlay.opaque": "y"}),
                      f("o/f", b"1", pax={"SCHILY.xattr.user.overlay.whiteout": ""})])
    _apply(data, layer, keep_privileged=keep)
    o = os.path.join(layer, "o")
    assert not is_opaque(o)
    names = set(os.listxattr(o))
    assert "trusted.overlay.opaque" not in names
    assert ("trusted.overlay.overlay.opaque" in names) is keep
    assert "user.overlay.whiteout" not in os.listxattr(os.path.join(o, "f"))


PAX_KEYS = ["size", "mtime", "uid", "path", "linkpath", "GNU.sparse.size", "GNU.sparse.map",
            "GNU.sparse.major", "GNU.sparse.minor", "GNU.sparse.realsize", "GNU.sparse.name",
            "GNU.sparse.numblocks", "GNU.sparse.offset", "GNU.sparse.numbytes",
            "SCHILY.xattr.", "SCHILY.xattr.user.x", "hdrcharset"]
PAX_VALUES = ["", "-1", "1e999", "nan", "0", "1", "9" * 25, "a", "0,5", "5,0,1", "..", "/",
              "a/../b", "\x00", "1.5", "1,2,3,4", "x" * 300, "1.0", "100000"]
TYPES = [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
         tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.CONTTYPE, b"S", b"K", b"Z"]


@pytest.mark.timeout(120)
def test_random_hostile_headers_fail_cleanly(tmp_path):
    """Random PAX records and types: InvalidLayer or success, never another error or a
    hang (tarfile's parsers raise ValueError & co. and seek forever on huge sizes)."""
    rng = random.Random(20261127)
    outcomes = {"ok": 0, "refused": 0}
    for i in range(300):
        members = [M(rng.choice(["a", "b", "a/c", ".wh.a", "d/", "."]), rng.choice(TYPES),
                     data=b"q" * rng.randint(0, 700), linkname=rng.choice(["", "a", "b"]),
                     pax={rng.choice(PAX_KEYS): rng.choice(PAX_VALUES)
                          for _ in range(rng.randint(0, 3))})
                   for _ in range(rng.randint(1, 4))]
        try:
            data = tar_bytes(members)
        except (ValueError, tarfile.TarError, UnicodeError):
            continue
        layer = tmp_path / f"l{i}"
        layer.mkdir()
        try:
            _apply(data, str(layer))
            outcomes["ok"] += 1
        except InvalidLayer:
            outcomes["refused"] += 1
    assert outcomes["ok"] and outcomes["refused"]
