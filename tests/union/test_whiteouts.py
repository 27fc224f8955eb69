"""Unit tests of `layerfs.union.whiteouts`, reading: formats, xattr names, OCI names,
`classify`, `scan_dir` and the markers, for every on-disk form.

The forms (OVERLAY-SEMANTICS.md): the kernel's 0/0 character device with
``trusted.overlay.*`` xattrs, the same under ``user.overlay.*`` (``userxattr``), xattr
whiteouts (an empty file with ``*.overlay.whiteout`` in a parent marked ``opaque=x``) and
the OCI ``.wh.`` names. Fixtures are built under tmp_path at run time. Writing, removing
and the kernel as the reference are in test_whiteouts_write.py.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from whiteout_util import IS_ROOT, needs_root
from whiteout_util import touch as _touch

from layerfs.union import whiteouts as wh
from layerfs.union.whiteouts import EntryKind, WhiteoutFormat

# --------------------------------------------------------------------------- formats


def test_format_prefixes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert WhiteoutFormat.KERNEL.prefix == "trusted.overlay."
    assert WhiteoutFormat.USERXATTR.prefix == "user.overlay."
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert WhiteoutFormat.XATTR.prefix == "trusted.overlay."
    assert WhiteoutFormat.OCI.prefix == "trusted.overlay."
    assert WhiteoutFormat.default() is WhiteoutFormat.KERNEL
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert WhiteoutFormat.XATTR.prefix == "user.overlay."
    assert WhiteoutFormat.OCI.prefix == "user.overlay."
    assert WhiteoutFormat.default() is WhiteoutFormat.USERXATTR


def test_format_values_round_trip() -> None:
    for fmt in WhiteoutFormat:
        assert WhiteoutFormat(fmt.value) is fmt
    assert {f.value for f in WhiteoutFormat} == {"kernel", "userxattr", "xattr", "oci"}


# --------------------------------------------------------------------------- xattr names


@pytest.mark.parametrize(
    ("name", "private", "visible", "stored"),
    [
        ("trusted.overlay.opaque", True, None, "trusted.overlay.overlay.opaque"),
        ("trusted.overlay.origin", True, None, "trusted.overlay.overlay.origin"),
        ("user.overlay.redirect", True, None, "user.overlay.overlay.redirect"),
        ("trusted.overlay.overlay.opaque", False, "trusted.overlay.opaque", None),
        ("user.overlay.overlay.x", False, "user.overlay.x", None),
        ("trusted.overlay.overlay.overlay.y", False, "trusted.overlay.overlay.y", None),
        ("user.mime_type", False, "user.mime_type", "user.mime_type"),
        ("security.capability", False, "security.capability", "security.capability"),
        ("trusted.md5", False, "trusted.md5", "trusted.md5"),
        ("system.posix_acl_access", False, "system.posix_acl_access", "system.posix_acl_access"),
        ("trusted.overlayfoo", False, "trusted.overlayfoo", "trusted.overlayfoo"),
    ],
)
def test_xattr_name_helpers(
    name: str, private: bool, visible: str | None, stored: str | None
) -> None:
    assert wh.is_overlay_private(name) is private
    assert wh.copyable_xattr(name) is (not private)
    assert wh.visible_xattr_name(name) == visible
    if stored is not None:
        assert wh.stored_xattr_name(name) == stored


_XATTR_NAME = st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from(["trusted.overlay.", "user.overlay.", "user.", "trusted.", "security."]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz._", min_size=1, max_size=20),
)


@given(_XATTR_NAME)
def test_stored_name_is_shown_as_the_name_set(name: str) -> None:
    """Escaping round-trips: what is set through the merged view reads back the same."""
    stored = wh.stored_xattr_name(name)
    assert wh.visible_xattr_name(stored) == name
    assert not wh.is_overlay_private(stored)


def test_marker_names_cover_both_prefixes() -> None:
    names = list(wh.marker_names())
    assert len(names) == len(set(names)) == 12
    for key in ("opaque", "redirect", "whiteout", "origin", "impure", "uuid"):
        assert f"trusted.overlay.{key}" in names
        assert f"user.overlay.{key}" in names
    assert all(wh.is_overlay_private(n) for n in names)


# --------------------------------------------------------------------------- OCI names


def test_oci_names() -> None:
    assert wh.oci_whiteout_name("etc") == ".wh.etc"
    assert wh.parse_oci_name(".wh..wh..opq") == ("opaque", None)
    assert wh.parse_oci_name(".wh.etc") == ("whiteout", "etc")
    assert wh.parse_oci_name(".wh..wh.x") == ("whiteout", ".wh.x")
    assert wh.parse_oci_name("etc") == ("plain", "etc")
    assert wh.parse_oci_name(".whx") == ("plain", ".whx")
    assert wh.is_internal_name(".wh.a") and wh.is_internal_name(".wh..wh..opq")
    assert not wh.is_internal_name("a.wh.") and not wh.is_internal_name(".whx")


@given(st.text(min_size=1).filter(lambda s: "/" not in s and "\0" not in s))
def test_oci_name_round_trip(name: str) -> None:
    marker = wh.oci_whiteout_name(name)
    assert wh.is_internal_name(marker)
    if marker != wh.OCI_OPAQUE:
        assert wh.parse_oci_name(marker) == ("whiteout", name)


# --------------------------------------------------------------------------- reading


def _plain_layer(path: Path) -> dict[str, EntryKind]:
    """One name of every plain kind (no markers); returns the kinds expected."""
    _touch(path / "f", b"data")
    _touch(path / "empty")
    (path / "d").mkdir()
    (path / "l").symlink_to("nowhere")
    os.mkfifo(path / "p")
    return {
        "f": EntryKind.FILE,
        "empty": EntryKind.FILE,
        "d": EntryKind.DIR,
        "l": EntryKind.SYMLINK,
        "p": EntryKind.SPECIAL,
    }


def test_classify_plain_kinds(tmp_path: Path) -> None:
    expected = _plain_layer(tmp_path)
    kinds = {n: wh.classify(str(tmp_path), n).kind for n in [*expected, "none"]}
    assert kinds == {**expected, "none": EntryKind.ABSENT}
    entry = wh.classify(str(tmp_path), "f")
    assert entry.st is not None and entry.st.st_size == 4
    assert wh.classify(str(tmp_path), "none").st is None


def test_classify_missing_parent_and_file_parent(tmp_path: Path) -> None:
    _touch(tmp_path / "f")
    assert wh.classify(str(tmp_path / "nope"), "x").kind is EntryKind.ABSENT
    assert wh.classify(str(tmp_path / "f"), "x").kind is EntryKind.ABSENT


def test_classify_uses_the_stat_given(tmp_path: Path) -> None:
    _touch(tmp_path / "f", b"x")
    (tmp_path / "d").mkdir()
    st_dir = os.lstat(tmp_path / "d")
    assert wh.classify(str(tmp_path), "f", st_dir).kind is EntryKind.DIR


@needs_root
def test_device_whiteout_is_only_char_0_0(tmp_path: Path) -> None:
    os.mknod(tmp_path / "wo", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    os.mknod(tmp_path / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    os.mknod(tmp_path / "blk", stat.S_IFBLK | 0o600, os.makedev(0, 0))
    assert wh.is_device_whiteout(os.lstat(tmp_path / "wo"))
    assert not wh.is_device_whiteout(os.lstat(tmp_path / "null"))
    assert not wh.is_device_whiteout(os.lstat(tmp_path / "blk"))
    _touch(tmp_path / "f")
    assert not wh.is_device_whiteout(os.lstat(tmp_path / "f"))
    kinds = {n: wh.classify(str(tmp_path), n).kind for n in ("wo", "null", "blk")}
    assert kinds == {"wo": EntryKind.WHITEOUT, "null": EntryKind.SPECIAL, "blk": EntryKind.SPECIAL}


def test_oci_whiteout_hides_an_absent_name(tmp_path: Path) -> None:
    _touch(tmp_path / ".wh.gone")
    entry = wh.classify(str(tmp_path), "gone")
    assert entry.kind is EntryKind.WHITEOUT and entry.st is None
    # A name that is there in the same layer is shown (OCI: a whiteout only hides lowers).
    _touch(tmp_path / "kept", b"k")
    _touch(tmp_path / ".wh.kept")
    assert wh.classify(str(tmp_path), "kept").kind is EntryKind.FILE


def test_oci_whiteout_of_a_name_too_long_for_the_marker(tmp_path: Path) -> None:
    assert wh.classify(str(tmp_path), "n" * 255).kind is EntryKind.ABSENT
    assert wh.remove_whiteout(str(tmp_path), "n" * 253) is False


@pytest.mark.parametrize("prefix", wh.PREFIXES)
def test_xattr_whiteout_needs_parent_opaque_x(tmp_path: Path, prefix: str) -> None:
    if prefix == wh.TRUSTED and not IS_ROOT:
        pytest.skip("trusted.* xattrs need root")
    f = _touch(tmp_path / "gone")
    os.setxattr(f, prefix + "whiteout", b"")
    assert wh.classify(str(tmp_path), "gone").kind is EntryKind.FILE  # parent not marked
    os.setxattr(tmp_path, prefix + "opaque", b"x")
    assert wh.has_xattr_whiteouts(str(tmp_path))
    assert not wh.is_opaque(str(tmp_path))
    assert wh.classify(str(tmp_path), "gone").kind is EntryKind.WHITEOUT
    # Only an *empty* regular file is an xattr whiteout.
    g = _touch(tmp_path / "full", b"data")
    os.setxattr(g, prefix + "whiteout", b"")
    assert wh.classify(str(tmp_path), "full").kind is EntryKind.FILE
    layer = wh.scan_dir(str(tmp_path))
    assert layer.whiteouts == {"gone"} and layer.entries == {"full": EntryKind.FILE}


@pytest.mark.parametrize("prefix", wh.PREFIXES)
def test_opaque_xattr_values(tmp_path: Path, prefix: str) -> None:
    if prefix == wh.TRUSTED and not IS_ROOT:
        pytest.skip("trusted.* xattrs need root")
    d = tmp_path / "d"
    d.mkdir()
    assert not wh.is_opaque(str(d)) and not wh.has_xattr_whiteouts(str(d))
    os.setxattr(d, prefix + "opaque", b"y")
    assert wh.is_opaque(str(d)) and not wh.has_xattr_whiteouts(str(d))
    assert wh.overlay_xattr(str(d), "opaque") == b"y"
    assert wh.scan_dir(str(d)).opaque
    os.setxattr(d, prefix + "opaque", b"x")
    assert not wh.is_opaque(str(d)) and wh.has_xattr_whiteouts(str(d))
    assert not wh.scan_dir(str(d)).opaque


@needs_root
def test_trusted_marker_wins_over_user(tmp_path: Path) -> None:
    os.setxattr(tmp_path, "user.overlay.redirect", b"user-target")
    assert wh.redirect_of(str(tmp_path)) == "user-target"
    os.setxattr(tmp_path, "trusted.overlay.redirect", b"/abs/target")
    assert wh.redirect_of(str(tmp_path)) == "/abs/target"


def test_markers_read_through_a_directory_fd(tmp_path: Path) -> None:
    os.setxattr(tmp_path, "user.overlay.opaque", b"y")
    os.setxattr(tmp_path, "user.overlay.redirect", b"old")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert wh.overlay_xattr(fd, "opaque") == b"y"
        assert wh.is_opaque(fd)
        assert not wh.has_xattr_whiteouts(fd)
        assert wh.redirect_of(fd) == "old"
    finally:
        os.close(fd)


def test_oci_opaque_marker_through_path_and_fd(tmp_path: Path) -> None:
    _touch(tmp_path / ".wh..wh..opq")
    assert wh.is_opaque(str(tmp_path))
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert wh.is_opaque(fd)
    finally:
        os.close(fd)


def test_markers_of_missing_and_plain_objects(tmp_path: Path) -> None:
    assert wh.overlay_xattr(str(tmp_path / "nope"), "opaque") is None
    assert wh.redirect_of(str(tmp_path)) is None
    assert not wh.is_opaque(str(tmp_path / "nope"))
    (tmp_path / "l").symlink_to(tmp_path)  # never followed
    os.setxattr(tmp_path, "user.overlay.opaque", b"y")
    assert wh.overlay_xattr(str(tmp_path / "l"), "opaque") is None


def test_scan_dir_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        wh.scan_dir(str(tmp_path / "nope"))
    _touch(tmp_path / "f")
    with pytest.raises(NotADirectoryError):
        wh.scan_dir(str(tmp_path / "f"))


def test_scan_dir_plain_layer(tmp_path: Path) -> None:
    expected = _plain_layer(tmp_path)
    layer = wh.scan_dir(str(tmp_path))
    assert layer.entries == expected
    assert layer.whiteouts == frozenset() and layer.opaque is False


def test_scan_dir_oci_markers(tmp_path: Path) -> None:
    _touch(tmp_path / ".wh.a")
    _touch(tmp_path / ".wh..wh..opq")
    _touch(tmp_path / ".wh.b")
    _touch(tmp_path / "b", b"same layer")
    _touch(tmp_path / "c")
    layer = wh.scan_dir(str(tmp_path))
    assert layer.opaque
    assert layer.whiteouts == {"a"}
    assert layer.entries == {"b": EntryKind.FILE, "c": EntryKind.FILE}
    for name in ("a", "b", "c"):  # scan_dir and classify agree name by name
        in_layer = wh.classify(str(tmp_path), name).kind
        assert (name in layer.whiteouts) is (in_layer is EntryKind.WHITEOUT)
        assert (name in layer.entries) is (in_layer is EntryKind.FILE)


@needs_root
def test_scan_dir_every_form_at_once(tmp_path: Path) -> None:
    os.mknod(tmp_path / "dev", stat.S_IFCHR, os.makedev(0, 0))
    os.mknod(tmp_path / "null", stat.S_IFCHR, os.makedev(1, 3))
    _touch(tmp_path / ".wh.oci")
    xw = _touch(tmp_path / "xw")
    os.setxattr(xw, "trusted.overlay.whiteout", b"")
    uw = _touch(tmp_path / "uw")
    os.setxattr(uw, "user.overlay.whiteout", b"")
    os.setxattr(tmp_path, "user.overlay.opaque", b"x")
    (tmp_path / "sub").mkdir()
    layer = wh.scan_dir(str(tmp_path))
    assert layer.whiteouts == {"dev", "oci", "xw", "uw"}
    assert layer.entries == {"null": EntryKind.SPECIAL, "sub": EntryKind.DIR}
    assert not layer.opaque


def test_layer_dir_is_frozen(tmp_path: Path) -> None:
    layer = wh.scan_dir(str(tmp_path))
    with pytest.raises(AttributeError):
        layer.opaque = True  # type: ignore[misc]
    entry = wh.classify(str(tmp_path), "x")
    with pytest.raises(AttributeError):
        entry.kind = EntryKind.FILE  # type: ignore[misc]
