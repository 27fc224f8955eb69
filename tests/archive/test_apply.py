"""apply_tar: member types, metadata, whiteout and opaque conversion, producer styles."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile

import pytest

from layerfs.archive.apply import apply_tar
from layerfs.union import whiteouts as whm
from layerfs.union.whiteouts import WhiteoutFormat

from .tars import M, d, f, hard, sym, tar_bytes, wh

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="ownership, devices and trusted.* need root")
FMT = WhiteoutFormat.default()


def apply(data: bytes, dest, fmt: WhiteoutFormat = FMT, **kw):
    return apply_tar(io.BytesIO(data), str(dest), fmt=fmt, **kw)


def test_types_and_metadata(tmp_path):
    data = tar_bytes([
        d("etc", 0o755, mtime=1_000_000_000),
        f("etc/passwd", b"root:x:0:0\n", 0o644, uid=0, gid=0),
        f("etc/shadow", b"secret", 0o640, uid=0, gid=42),
        sym("etc/link", "passwd"),
        hard("etc/hard", "etc/passwd"),
        M("fifo", tarfile.FIFOTYPE, mode=0o600),
        f("ns", b"x", pax={"mtime": "1600000000.123456789"}),
        f("attr", b"x", pax={"SCHILY.xattr.user.comment": "hello"}),
    ])
    result = apply(data, tmp_path)
    assert result.diff_id.hex == hashlib.sha256(data).hexdigest()
    assert result.size == len(data) and result.entries == 8
    etc = tmp_path / "etc"
    assert (etc / "passwd").read_bytes() == b"root:x:0:0\n"
    assert os.readlink(etc / "link") == "passwd"
    assert os.lstat(etc / "hard").st_ino == os.lstat(etc / "passwd").st_ino
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)
    assert os.lstat(tmp_path / "ns").st_mtime_ns == 1600000000_123456789
    assert os.getxattr(tmp_path / "attr", "user.comment") == b"hello"
    st = os.lstat(etc / "shadow")
    assert stat.S_IMODE(st.st_mode) == 0o640
    if ROOT:
        assert st.st_gid == 42
    # directory mtimes are set after their children were written
    assert os.lstat(etc).st_mtime == 1_000_000_000


def test_diff_id_of_gnu_tar_output_includes_padding(tmp_path):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(os.urandom(3000))
    out = tmp_path / "t.tar"
    subprocess.run(["tar", "-C", str(src), "-cf", str(out), "."], check=True)
    data = out.read_bytes()
    assert len(data) % 10240 == 0  # GNU tar pads to a record
    dest = tmp_path / "dest"
    dest.mkdir()
    result = apply(data, dest)
    assert result.diff_id.hex == hashlib.sha256(data).hexdigest()
    assert (dest / "d" / "f").read_bytes() == (src / "d" / "f").read_bytes()


@pytest.mark.parametrize("mode", [0o000, 0o600], ids=["buildah-0000", "docker-0600"])
def test_whiteout_becomes_kernel_form(tmp_path, mode):
    apply(tar_bytes([d("a"), wh("a/.wh.gone", mode), wh(".wh.top", mode)]), tmp_path)
    for path in (tmp_path / "a" / "gone", tmp_path / "top"):
        assert whm.classify(str(path.parent), path.name).kind is whm.EntryKind.WHITEOUT
    assert sorted(os.listdir(tmp_path / "a")) == ["gone"]  # the marker itself is not kept
    if FMT in (WhiteoutFormat.KERNEL, WhiteoutFormat.USERXATTR):
        assert whm.is_device_whiteout(os.lstat(tmp_path / "top"))


def test_whiteout_in_oci_form(tmp_path):
    apply(tar_bytes([wh(".wh.gone"), d("o"), wh("o/.wh..wh..opq")]), tmp_path,
          WhiteoutFormat.OCI)
    assert sorted(os.listdir(tmp_path)) == [".wh.gone", "o"]
    assert os.listdir(tmp_path / "o") == [".wh..wh..opq"]


def test_opaque_marker_after_siblings_keeps_them(tmp_path):
    """Opaque hides LOWER layers only: entries of this layer before the marker stay."""
    data = tar_bytes([d("o"), f("o/kept", b"1"), wh("o/.wh..wh..opq"), f("o/after", b"2")])
    apply(data, tmp_path)
    assert whm.is_opaque(str(tmp_path / "o"))
    assert sorted(os.listdir(tmp_path / "o")) == ["after", "kept"]


def test_opaque_dir_never_holds_whiteouts(tmp_path):
    data = tar_bytes([d("o"), wh("o/.wh.early"), wh("o/.wh..wh..opq"), wh("o/.wh.late"),
                      f("o/f", b"x")])
    result = apply(data, tmp_path)
    layer = whm.scan_dir(str(tmp_path / "o"))
    assert layer.opaque and not layer.whiteouts
    assert sorted(os.listdir(tmp_path / "o")) == ["f"]
    assert result.whiteouts == 3


def test_opaque_marker_before_its_dir_entry(tmp_path):
    data = tar_bytes([wh("x/y/.wh..wh..opq"), d("x", 0o700), d("x/y", 0o750)])
    apply(data, tmp_path)
    assert whm.is_opaque(str(tmp_path / "x" / "y"))
    assert stat.S_IMODE(os.lstat(tmp_path / "x" / "y").st_mode) == 0o750


def test_buildah_vfs_style_per_file_whiteouts(tmp_path):
    """buildah on vfs deletes a recreated dir's old files one by one instead of opaque."""
    names = [f"f{i}" for i in range(20)]
    data = tar_bytes([d("dir"), *[wh(f"dir/.wh.{n}") for n in names], f("dir/new", b"n")])
    apply(data, tmp_path)
    layer = whm.scan_dir(str(tmp_path / "dir"))
    assert layer.whiteouts == frozenset(names) and not layer.opaque
    assert list(layer.entries) == ["new"]


def test_whiteout_replaces_and_is_replaced(tmp_path):
    data = tar_bytes([f("a", b"1"), wh(".wh.a"), wh(".wh.b"), f("b", b"2")])
    apply(data, tmp_path)
    assert whm.classify(str(tmp_path), "a").kind is whm.EntryKind.WHITEOUT
    assert (tmp_path / "b").read_bytes() == b"2"


def test_dir_over_dir_merges_and_takes_later_metadata(tmp_path):
    data = tar_bytes([d("a", 0o755), f("a/one", b"1"), d("a", 0o700), f("a/two", b"2")])
    apply(data, tmp_path)
    assert sorted(os.listdir(tmp_path / "a")) == ["one", "two"]
    assert stat.S_IMODE(os.lstat(tmp_path / "a").st_mode) == 0o700


def test_file_over_dir_and_dir_over_symlink(tmp_path):
    data = tar_bytes([d("a"), f("a/x", b"1"), f("a", b"file"), sym("s", "/etc"), d("s"),
                      f("s/in", b"2")])
    apply(data, tmp_path)
    assert (tmp_path / "a").read_bytes() == b"file"
    assert not os.path.islink(tmp_path / "s") and (tmp_path / "s" / "in").read_bytes() == b"2"


def test_implicit_parents_are_created(tmp_path):
    apply(tar_bytes([f("deep/er/file", b"x")]), tmp_path)
    assert (tmp_path / "deep" / "er" / "file").read_bytes() == b"x"
    assert stat.S_IMODE(os.lstat(tmp_path / "deep").st_mode) == 0o755


def test_long_names(tmp_path):
    comp = "n" * 250
    name = "/".join([comp] * 12)  # ≈ 3000 bytes, through PAX path records
    apply(tar_bytes([f(name, b"deep"), sym("l" * 200, "t" * 3000)]), tmp_path)
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(11):
            nfd = os.open(comp, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        assert os.stat(comp, dir_fd=fd).st_size == 4
    finally:
        os.close(fd)
    assert os.readlink(tmp_path / ("l" * 200)) == "t" * 3000


@pytest.mark.parametrize("fmt_args", [["--format=gnu"], ["--format=pax"]], ids=["gnu", "pax"])
def test_sparse_files_keep_their_holes(tmp_path, fmt_args):
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "sparse", "wb") as fh:
        fh.seek(64 << 20)
        fh.write(b"middle")
        fh.seek(128 << 20)
        fh.write(b"end")
    out = tmp_path / "s.tar"
    subprocess.run(["tar", "-S", *fmt_args, "-C", str(src), "-cf", str(out), "sparse"],
                   check=True)
    assert out.stat().st_size < 1 << 20
    dest = tmp_path / "dest"
    dest.mkdir()
    apply(out.read_bytes(), dest)
    st = os.stat(dest / "sparse")
    assert st.st_size == (128 << 20) + 3
    assert st.st_blocks * 512 < 1 << 20
    with open(dest / "sparse", "rb") as fh:
        fh.seek(64 << 20)
        assert fh.read(6) == b"middle"
        fh.seek((64 << 20) - 10)
        assert fh.read(10) == bytes(10)


@needs_root
def test_owners_and_zero_device_as_whiteout(tmp_path):
    data = tar_bytes([f("owned", b"x", uid=1234, gid=5678), sym("sl", "t", ),
                      M("wdev", tarfile.CHRTYPE, devmajor=0, devminor=0)])
    apply(data, tmp_path, WhiteoutFormat.KERNEL)
    st = os.lstat(tmp_path / "owned")
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert whm.is_device_whiteout(os.lstat(tmp_path / "wdev"))


def test_big_file_streams(tmp_path):
    blob = os.urandom(1 << 20) * 24 + b"tail"
    data = tar_bytes([f("big", blob)])
    result = apply(data, tmp_path)
    assert (tmp_path / "big").read_bytes() == blob
    assert result.diff_id.hex == hashlib.sha256(data).hexdigest()


def test_tar_from_system_tar_with_xattrs(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"data")
    os.setxattr(src / "f", "user.k", b"\xff\x00binary")
    out = tmp_path / "x.tar"
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--format=posix", "-C", str(src),
                    "-cf", str(out), "f"], check=True)
    dest = tmp_path / "dest"
    dest.mkdir()
    apply(out.read_bytes(), dest)
    assert os.getxattr(dest / "f", "user.k") == b"\xff\x00binary"
    shutil.rmtree(src)
