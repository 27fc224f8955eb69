"""Unit tests of `layerfs.union.whiteouts`, writing: every form written, removed and
cleared, then the kernel as the reference: it honours what we write and we read what it
writes (``mount -t overlay``, root only). Reading alone is in test_whiteouts.py.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import pytest
from kstack import overlay
from whiteout_util import IS_ROOT, needs_root
from whiteout_util import touch as _touch
from whiteout_util import xattrs as _xattrs

from layerfs.union import whiteouts as wh
from layerfs.union.whiteouts import EntryKind, WhiteoutFormat

WRITTEN_FORMATS = list(WhiteoutFormat)
KERNEL_READ_FORMATS = [WhiteoutFormat.KERNEL, WhiteoutFormat.USERXATTR, WhiteoutFormat.XATTR]


# --------------------------------------------------------------------------- writing


def _skip_unless_writable(fmt: WhiteoutFormat) -> None:
    if not IS_ROOT and fmt in (WhiteoutFormat.KERNEL, WhiteoutFormat.USERXATTR):
        pytest.skip("device whiteouts need CAP_MKNOD")
    if not IS_ROOT and fmt is WhiteoutFormat.KERNEL:
        pytest.skip("trusted.* xattrs need root")


@pytest.mark.parametrize("fmt", WRITTEN_FORMATS, ids=lambda f: f.value)
def test_make_whiteout_reads_back_and_is_idempotent(tmp_path: Path, fmt: WhiteoutFormat) -> None:
    _skip_unless_writable(fmt)
    _touch(tmp_path / "other", b"o")
    for _ in range(2):
        wh.make_whiteout(str(tmp_path), "gone", fmt)
        assert wh.classify(str(tmp_path), "gone").kind is EntryKind.WHITEOUT
        layer = wh.scan_dir(str(tmp_path))
        assert layer.whiteouts == {"gone"}
        assert layer.entries == {"other": EntryKind.FILE}
        assert not layer.opaque
        assert not wh.is_opaque(str(tmp_path))


@needs_root
@pytest.mark.parametrize("fmt", [WhiteoutFormat.KERNEL, WhiteoutFormat.USERXATTR])
def test_device_forms_write_a_0_0_char_device(tmp_path: Path, fmt: WhiteoutFormat) -> None:
    wh.make_whiteout(str(tmp_path), "gone", fmt)
    st_ = os.lstat(tmp_path / "gone")
    assert stat.S_ISCHR(st_.st_mode) and st_.st_rdev == 0
    assert _xattrs(tmp_path) == {}  # the parent is not touched


def test_make_whiteout_refuses_to_replace_an_entry(tmp_path: Path) -> None:
    _touch(tmp_path / "f", b"x")
    if IS_ROOT:
        with pytest.raises(FileExistsError):
            wh.make_whiteout(str(tmp_path), "f", WhiteoutFormat.KERNEL)
    assert (tmp_path / "f").read_bytes() == b"x"


@needs_root
def test_xattr_form_writes_an_empty_file_and_marks_the_parent(tmp_path: Path) -> None:
    wh.make_whiteout(str(tmp_path), "gone", WhiteoutFormat.XATTR)
    st_ = os.lstat(tmp_path / "gone")
    assert stat.S_ISREG(st_.st_mode) and st_.st_size == 0
    assert _xattrs(tmp_path / "gone") == {"trusted.overlay.whiteout": b""}
    assert _xattrs(tmp_path)["trusted.overlay.opaque"] == b"x"


@needs_root
def test_xattr_form_keeps_an_opaque_parent_opaque(tmp_path: Path) -> None:
    os.setxattr(tmp_path, "trusted.overlay.opaque", b"y")
    wh.make_whiteout(str(tmp_path), "gone", WhiteoutFormat.XATTR)
    assert wh.is_opaque(str(tmp_path))


def test_oci_form_writes_a_marker_file(tmp_path: Path) -> None:
    wh.make_whiteout(str(tmp_path), "gone", WhiteoutFormat.OCI)
    assert sorted(os.listdir(tmp_path)) == [".wh.gone"]
    st_ = os.lstat(tmp_path / ".wh.gone")
    assert stat.S_ISREG(st_.st_mode) and st_.st_size == 0


@pytest.mark.parametrize("fmt", WRITTEN_FORMATS, ids=lambda f: f.value)
def test_remove_whiteout(tmp_path: Path, fmt: WhiteoutFormat) -> None:
    _skip_unless_writable(fmt)
    wh.make_whiteout(str(tmp_path), "gone", fmt)
    assert wh.remove_whiteout(str(tmp_path), "gone") is True
    assert wh.classify(str(tmp_path), "gone").kind is EntryKind.ABSENT
    assert wh.remove_whiteout(str(tmp_path), "gone") is False
    assert [n for n in os.listdir(tmp_path) if n != "gone"] == []


def test_remove_whiteout_leaves_real_entries(tmp_path: Path) -> None:
    _touch(tmp_path / "f")
    (tmp_path / "d").mkdir()
    assert wh.remove_whiteout(str(tmp_path), "f") is False
    assert wh.remove_whiteout(str(tmp_path), "d") is False
    # An empty file carrying the whiteout xattr is not a whiteout without opaque=x.
    os.setxattr(tmp_path / "f", "user.overlay.whiteout", b"")
    assert wh.remove_whiteout(str(tmp_path), "f") is False
    assert sorted(os.listdir(tmp_path)) == ["d", "f"]


def test_remove_whiteout_of_a_shadowed_oci_marker(tmp_path: Path) -> None:
    _touch(tmp_path / "kept", b"k")
    _touch(tmp_path / ".wh.kept")
    assert wh.remove_whiteout(str(tmp_path), "kept") is True
    assert sorted(os.listdir(tmp_path)) == ["kept"]


@pytest.mark.parametrize("fmt", WRITTEN_FORMATS, ids=lambda f: f.value)
def test_make_and_clear_opaque(tmp_path: Path, fmt: WhiteoutFormat) -> None:
    if not IS_ROOT and fmt is WhiteoutFormat.KERNEL:
        pytest.skip("trusted.* xattrs need root")
    d = tmp_path / "d"
    d.mkdir()
    for _ in range(2):
        wh.make_opaque(str(d), fmt)
        assert wh.is_opaque(str(d))
        layer = wh.scan_dir(str(d))
        assert layer.opaque and layer.entries == {} and layer.whiteouts == frozenset()
    if fmt is WhiteoutFormat.OCI:
        assert os.listdir(d) == [".wh..wh..opq"]
    else:
        assert _xattrs(d) == {fmt.prefix + "opaque": b"y"}
    for _ in range(2):
        wh.clear_opaque(str(d))
        assert not wh.is_opaque(str(d))
    assert os.listdir(d) == [] and _xattrs(d) == {}


@needs_root
def test_clear_opaque_removes_every_form(tmp_path: Path) -> None:
    for fmt in (WhiteoutFormat.KERNEL, WhiteoutFormat.USERXATTR, WhiteoutFormat.OCI):
        wh.make_opaque(str(tmp_path), fmt)
    wh.clear_opaque(str(tmp_path))
    assert not wh.is_opaque(str(tmp_path))
    assert os.listdir(tmp_path) == [] and _xattrs(tmp_path) == {}


@needs_root
def test_clear_whiteouts_removes_every_form_and_nothing_else(tmp_path: Path) -> None:
    for fmt, name in [
        (WhiteoutFormat.KERNEL, "k"),
        (WhiteoutFormat.XATTR, "x"),
        (WhiteoutFormat.OCI, "o"),
    ]:
        wh.make_whiteout(str(tmp_path), name, fmt)
    _touch(tmp_path / "keep", b"1")
    (tmp_path / "dir").mkdir()
    assert wh.clear_whiteouts(str(tmp_path)) == ["k", "o", "x"]
    layer = wh.scan_dir(str(tmp_path))
    assert layer.whiteouts == frozenset()
    assert layer.entries == {"keep": EntryKind.FILE, "dir": EntryKind.DIR}
    assert wh.clear_whiteouts(str(tmp_path)) == []


@pytest.mark.parametrize("fmt", WRITTEN_FORMATS, ids=lambda f: f.value)
def test_set_redirect_writes_the_formats_namespace(
    tmp_path: Path, fmt: WhiteoutFormat, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not IS_ROOT and fmt is WhiteoutFormat.KERNEL:
        pytest.skip("trusted.* xattrs need root")
    if IS_ROOT and fmt in (WhiteoutFormat.XATTR, WhiteoutFormat.OCI):
        # As root these forms write trusted.*; pretend to be a user to check the other half.
        monkeypatch.setattr(os, "geteuid", lambda: 1000)
    prefix = fmt.prefix
    wh.set_redirect(str(tmp_path), "/a/b", fmt)
    assert _xattrs(tmp_path) == {prefix + "redirect": b"/a/b"}
    assert wh.redirect_of(str(tmp_path)) == "/a/b"
    wh.set_redirect(str(tmp_path), "sibling", fmt)
    assert wh.redirect_of(str(tmp_path)) == "sibling"


def test_set_marker(tmp_path: Path) -> None:
    wh.set_marker(str(tmp_path), wh.IMPURE, b"y", WhiteoutFormat.USERXATTR)
    assert _xattrs(tmp_path) == {"user.overlay.impure": b"y"}
    assert wh.overlay_xattr(str(tmp_path), wh.IMPURE) == b"y"


def test_markers_on_a_symlink_are_not_followed(tmp_path: Path) -> None:
    (tmp_path / "l").symlink_to(tmp_path)
    with pytest.raises(OSError) as exc:
        wh.set_marker(str(tmp_path / "l"), wh.ORIGIN, b"o", WhiteoutFormat.USERXATTR)
    assert exc.value.errno == errno.EPERM  # user.* is refused on a symlink, not followed
    assert _xattrs(tmp_path) == {}


# --------------------------------------------------------------------------- the kernel


kernel_overlay = pytest.mark.skipif(
    not IS_ROOT or shutil.which("mount") is None, reason="mounting an overlay needs root"
)


@kernel_overlay
@pytest.mark.parametrize("fmt", KERNEL_READ_FORMATS, ids=lambda f: f.value)
def test_kernel_honours_what_we_write(tmp_path: Path, fmt: WhiteoutFormat) -> None:
    bottom, top = tmp_path / "bottom", tmp_path / "top"
    for layer in (bottom, top):
        layer.mkdir()
    for name in ("gone", "kept"):
        _touch(bottom / name, name.encode())
    (bottom / "d").mkdir()
    _touch(bottom / "d" / "hidden")
    wh.make_whiteout(str(top), "gone", fmt)
    (top / "d").mkdir()
    wh.make_opaque(str(top / "d"), fmt)
    extra = "userxattr" if fmt is WhiteoutFormat.USERXATTR else ""
    with overlay(tmp_path / "merged", [top, bottom], extra=extra) as merged:
        assert sorted(os.listdir(merged)) == ["d", "kept"]
        assert os.listdir(merged / "d") == []


@kernel_overlay
def test_we_read_what_the_kernel_writes(tmp_path: Path) -> None:
    lower, upper, work = tmp_path / "lower", tmp_path / "upper", tmp_path / "work"
    for d in (lower, upper, work):
        d.mkdir()
    _touch(lower / "delete.txt", b"will be deleted")
    (lower / "subdir").mkdir()
    _touch(lower / "subdir" / "nested.txt", b"nested file")
    (lower / "redo").mkdir()
    _touch(lower / "redo" / "old")
    with overlay(tmp_path / "m", [lower], upper, work) as merged:
        os.unlink(merged / "delete.txt")
        os.unlink(merged / "subdir" / "nested.txt")
        shutil.rmtree(merged / "redo")
        os.mkdir(merged / "redo")  # mkdir over a whiteout: an opaque directory
        _touch(merged / "new.txt", b"new")
    top = wh.scan_dir(str(upper))
    assert top.whiteouts == {"delete.txt"}
    assert top.entries == {
        "subdir": EntryKind.DIR,
        "redo": EntryKind.DIR,
        "new.txt": EntryKind.FILE,
    }
    assert wh.classify(str(upper), "delete.txt").kind is EntryKind.WHITEOUT
    assert wh.scan_dir(str(upper / "subdir")).whiteouts == {"nested.txt"}
    assert wh.is_opaque(str(upper / "redo"))
    assert wh.scan_dir(str(upper / "redo")) == wh.LayerDir({}, frozenset(), True)
    assert not wh.is_opaque(str(upper / "subdir"))
    # The kernel's own markers are overlay-private: hidden from a merged view.
    private = [n for n in os.listxattr(upper) if n.startswith("trusted.overlay.")]
    assert private and all(wh.visible_xattr_name(n) is None for n in private)
    # What the kernel wrote, we remove: the upper dir is then a plain layer again.
    assert wh.clear_whiteouts(str(upper / "subdir")) == ["nested.txt"]
    assert os.listdir(upper / "subdir") == []
