"""write_tar / write_tree_tar: determinism, round trips, whiteout forms, readers agree."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile

import pytest

from layerfs.archive.apply import apply_tar
from layerfs.archive.generate import write_tar, write_tree_tar
from layerfs.errors import Unsupported
from layerfs.union import whiteouts as whm
from layerfs.union.whiteouts import WhiteoutFormat

from .tars import snapshot

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="devices, owners and trusted.* need root")
FMT = WhiteoutFormat.default()


def make_tree(root, *, reverse: bool = False) -> None:
    """A tree with every kind of entry; `reverse` creates it in another order."""
    names = [f"f{i:02d}" for i in range(30)]
    root.mkdir(exist_ok=True)
    (root / "dir" / "sub").mkdir(parents=True)
    for n in reversed(names) if reverse else names:
        (root / "dir" / n).write_bytes(n.encode() * 100)
    (root / "big").write_bytes(bytes(range(256)) * 4099)
    (root / "empty").write_bytes(b"")
    (root / "suid").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "suid", 0o4755)
    os.symlink("dir/f01", root / "link")
    os.symlink("/nonexistent/abs", root / "dangling")
    os.link(root / "dir" / "f00", root / "hardlink")
    os.mkfifo(root / "fifo", 0o640)
    os.setxattr(root / "dir" / "f02", "user.note", b"\x00\xffbin")
    (root / "ünïcode-名前").write_text("u")
    os.chmod(root / "dir" / "sub", 0o700)
    if ROOT:
        os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.chown(root / "dir" / "f03", 1000, 2000)
        os.chown(root / "link", 5, 6, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            os.utime(os.path.join(dirpath, n), ns=(1_500_000_000 * 10**9,) * 2,
                     follow_symlinks=False)
    os.utime(root / "dir", ns=(1_500_000_000 * 10**9,) * 2)


def tar_of(root, **kw) -> bytes:
    buf = io.BytesIO()
    result = write_tree_tar(str(root), buf, **kw)
    assert result.size == len(buf.getvalue())
    return buf.getvalue()


def upper_tar(root, **kw) -> bytes:
    buf = io.BytesIO()
    write_tar(str(root), buf, **kw)
    return buf.getvalue()


def test_deterministic_across_runs_and_creation_order(tmp_path):
    make_tree(tmp_path / "a")
    make_tree(tmp_path / "b", reverse=True)
    first = tar_of(tmp_path / "a")
    assert first == tar_of(tmp_path / "a")
    assert first == tar_of(tmp_path / "b")


def test_round_trip(tmp_path):
    make_tree(tmp_path / "src")
    data = tar_of(tmp_path / "src")
    (tmp_path / "dst").mkdir()
    apply_tar(io.BytesIO(data), str(tmp_path / "dst"), fmt=FMT)
    assert snapshot(str(tmp_path / "dst")) == snapshot(str(tmp_path / "src"))
    hl = os.lstat(tmp_path / "dst" / "hardlink")
    assert hl.st_ino == os.lstat(tmp_path / "dst" / "dir" / "f00").st_ino


def test_headers_are_normalized(tmp_path):
    make_tree(tmp_path / "src")
    with tarfile.open(fileobj=io.BytesIO(tar_of(tmp_path / "src", source_date_epoch=10))) as tf:
        members = tf.getmembers()
    names = [m.name for m in members]
    assert names[:3] == ["big", "dangling", "dir"]
    assert names.index("dir/f00") < names.index("hardlink")
    for m in members:
        assert m.uname == "" and m.gname == ""
        assert m.mtime == 10
        assert not {"atime", "ctime", "mtime"} & set(m.pax_headers)
    by_name = {m.name: m for m in members}
    hard = by_name["hardlink"]
    assert hard.islnk() and hard.linkname == "dir/f00"
    assert by_name["dir/f02"].pax_headers["SCHILY.xattr.user.note"].encode(
        "utf-8", "surrogateescape") == b"\x00\xffbin"


def test_source_date_epoch_only_clamps(tmp_path):
    make_tree(tmp_path / "src")
    with tarfile.open(fileobj=io.BytesIO(tar_of(tmp_path / "src",
                                                source_date_epoch=2_000_000_000))) as tf:
        assert {m.mtime for m in tf.getmembers()} == {1_500_000_000}


def test_system_tar_reads_our_output(tmp_path):
    make_tree(tmp_path / "src")
    out = tmp_path / "ours.tar"
    out.write_bytes(tar_of(tmp_path / "src"))
    listing = subprocess.run(["tar", "-tvf", str(out)], check=True, capture_output=True,
                             text=True).stdout
    assert "hardlink link to dir/f00" in listing
    assert "-rwsr-xr-x 0/0" in listing
    (tmp_path / "x").mkdir()
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--same-owner", "-C",
                    str(tmp_path / "x"), "-xpf", str(out)], check=True)
    assert snapshot(str(tmp_path / "x")) == snapshot(str(tmp_path / "src"))


def _upper(tmp_path):
    """An upper dir holding every whiteout form and opaque dirs."""
    up = tmp_path / "upper"
    (up / "opq").mkdir(parents=True)
    (up / "opq" / "new").write_text("n")
    whm.make_opaque(str(up / "opq"), FMT)
    (up / "ociopq").mkdir()
    (up / "ociopq" / ".wh..wh..opq").write_bytes(b"")
    (up / "d").mkdir()
    whm.make_whiteout(str(up / "d"), "gone", FMT)
    (up / "d" / ".wh.ocigone").write_bytes(b"")
    (up / "x").mkdir()
    whm.make_whiteout(str(up / "x"), "xgone", WhiteoutFormat.XATTR)
    (up / "file").write_text("f")
    return up


def test_upper_whiteouts_become_oci_markers(tmp_path):
    data = upper_tar(_upper(tmp_path), source_date_epoch=0)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members = tf.getmembers()
    names = [m.name for m in members]
    assert names == ["d", "d/.wh.gone", "d/.wh.ocigone", "file", "ociopq",
                     "ociopq/.wh..wh..opq", "opq", "opq/.wh..wh..opq", "opq/new", "x",
                     "x/.wh.xgone"]
    for m in members:
        if os.path.basename(m.name).startswith(".wh."):
            assert m.isreg() and m.size == 0 and m.mode == 0
        assert not any(k.startswith("SCHILY.xattr.trusted.overlay.") or
                       k.startswith("SCHILY.xattr.user.overlay.") for k in m.pax_headers)


def test_upper_round_trip_through_apply(tmp_path):
    up = _upper(tmp_path)
    data = upper_tar(up)
    dst = tmp_path / "dst"
    dst.mkdir()
    apply_tar(io.BytesIO(data), str(dst), fmt=FMT)
    for parent in ("d", "x", "opq", "ociopq", "."):
        a, b = whm.scan_dir(str(up / parent)), whm.scan_dir(str(dst / parent))
        assert (a.whiteouts, a.opaque, a.entries) == (b.whiteouts, b.opaque, b.entries)
    assert upper_tar(dst) == data


@needs_root
def test_escaped_overlay_xattrs_are_exported_unescaped(tmp_path):
    up = tmp_path / "up"
    up.mkdir()
    (up / "f").write_text("x")
    os.setxattr(up / "f", "trusted.overlay.overlay.opaque", b"y")
    os.setxattr(up / "f", "trusted.overlay.origin", b"private")
    with tarfile.open(fileobj=io.BytesIO(upper_tar(up))) as tf:
        pax = tf.getmember("f").pax_headers
    assert pax == {"SCHILY.xattr.trusted.overlay.opaque": "y"}


@needs_root
def test_redirect_is_unsupported(tmp_path):
    up = tmp_path / "up"
    (up / "moved").mkdir(parents=True)
    os.setxattr(up / "moved", "trusted.overlay.redirect", b"old")
    with pytest.raises(Unsupported, match="moved"):
        upper_tar(up)


def test_opaque_upper_root(tmp_path):
    up = tmp_path / "up"
    up.mkdir()
    (up / "a").write_text("a")
    whm.make_opaque(str(up), FMT)
    data = upper_tar(up)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert tf.getnames() == [".wh..wh..opq", "a"]
    (tmp_path / "dst").mkdir()
    apply_tar(io.BytesIO(data), str(tmp_path / "dst"), fmt=FMT)
    assert whm.is_opaque(str(tmp_path / "dst"))
