"""Overlay option parsing (the kernel's syntax) and validation (nothing written)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from treestate import tree_state

from layerfs.errors import InvalidOption
from layerfs.mounts.mount import Mount
from layerfs.mounts.options import OverlayOptions, escape_path, parse_options, unescape


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, str]:
    names = ("l1", "l2", "u", "w", "m")
    for n in names:
        (tmp_path / n).mkdir()
    return {n: str(tmp_path / n) for n in names}


# -- parsing ------------------------------------------------------------------------------


def test_parse_basic_order_is_top_first() -> None:
    o = parse_options("lowerdir=/a:/b:/c,upperdir=/u,workdir=/w")
    assert o.lowerdirs == ("/a", "/b", "/c")
    assert (o.upperdir, o.workdir) == ("/u", "/w")
    assert o.settings == () and o.flags == ()
    assert not o.readonly


def test_parse_escapes_like_the_kernel() -> None:
    o = parse_options(r"lowerdir=/x\:y:/a\,b:/back\\slash,upperdir=/u\,1,workdir=/w\:2")
    assert o.lowerdirs == ("/x:y", "/a,b", "/back\\slash")
    assert o.upperdir == "/u,1"
    assert o.workdir == "/w:2"


def test_escape_roundtrip() -> None:
    for path in ["/plain", "/a:b", "/a,b", "/a\\b", "/:,\\:"]:
        assert unescape(escape_path(path)) == path
    o = OverlayOptions(("/a:b", "/c,d"), "/u\\x", "/w", settings=(("index", "on"),))
    assert parse_options(o.to_string()) == o


def test_data_only_layers() -> None:
    o = parse_options("lowerdir=/a:/b::/d1::/d2")
    assert o.lowerdirs == ("/a", "/b")
    assert o.datadirs == ("/d1", "/d2")
    assert o.to_string() == "lowerdir=/a:/b::/d1::/d2"


def test_lowerdir_plus_appends_literally() -> None:
    o = parse_options("lowerdir+=/a,lowerdir+=/b\\x,datadir+=/d")
    assert o.lowerdirs == ("/a", "/b\\x")
    assert o.datadirs == ("/d",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lowerdirs=/a", "did you mean 'lowerdir'"),
        ("lowerdir=", "lowerdir: empty value"),
        ("lowerdir=/a:::/b", "single ':' or double '::'"),
        ("lowerdir=/a::/d:/b", "regular layers cannot follow data layers"),
        ("lowerdir=:/a", "cannot start with ':'"),
        ("lowerdir=/a:", "trailing ':'"),
        ("lowerdir=/a,index=maybe", "index: value must be one of on|off"),
        ("lowerdir=/a,redirect_dir", "redirect_dir: value must be one of"),
        ("lowerdir=/a,userxattr=yes", "userxattr: a flag, it takes no value"),
        ("lowerdir=/a,ro=1", "ro: a flag"),
        ("lowerdir=/a\0b", "NUL"),
        ("lowerdir+=/a,lowerdir=/b", "cannot be mixed"),
        ("lowerdir=/a,lowerdir+=/b", "cannot follow lowerdir="),
        ("datadir+=/d", "needs at least one lowerdir+"),
        ("lowerdir+=/a,datadir+=/d,lowerdir+=/b", "cannot follow data lower layers"),
        ("lowerdir=/a,upperdir=", "upperdir: empty value"),
    ],
)
def test_parse_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(InvalidOption) as info:
        parse_options(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_settings_and_flags() -> None:
    o = parse_options(
        "lowerdir=/a:/b,redirect_dir=on,index=off,metacopy=on,xino=auto,userxattr,volatile,"
        "ro,nosuid,noatime"
    )
    assert o.setting("redirect_dir") == "on"
    assert o.setting("xino") == "auto"
    assert o.setting("nfs_export") is None
    assert o.userxattr and o.setting("volatile") == ""
    assert o.flags == ("ro", "nosuid", "noatime")
    assert o.readonly
    assert o.with_setting("index", "on").setting("index") == "on"
    assert parse_options("lowerdir=/a,index=on,index=off").setting("index") == "off"


def test_to_mount_and_back() -> None:
    o = parse_options("lowerdir=/a\\,x:/b,upperdir=/u,workdir=/w,userxattr,ro")
    m = o.to_mount()
    assert m == Mount(
        "overlay", "overlay", ("lowerdir=/a\\,x:/b", "upperdir=/u", "workdir=/w", "userxattr", "ro")
    )
    assert OverlayOptions.from_mount(m) == o
    assert o.to_mount("mystack").source == "mystack"
    for bad in ("two words", "a/b", "a,b", "", "x\0"):
        with pytest.raises(InvalidOption, match="must be a single name"):
            o.to_mount(bad)
    with pytest.raises(InvalidOption, match="not overlay"):
        OverlayOptions.from_mount(Mount("tmpfs", "tmpfs"))


def test_absolute() -> None:
    o = parse_options("lowerdir=a:b,upperdir=u,workdir=w").absolute()
    cwd = os.getcwd()
    assert o.lowerdirs == (os.path.join(cwd, "a"), os.path.join(cwd, "b"))
    assert o.upperdir == os.path.join(cwd, "u")


# -- validation ---------------------------------------------------------------------------


def test_validate_accepts_good_layers(dirs: dict[str, str]) -> None:
    OverlayOptions((dirs["l1"], dirs["l2"]), dirs["u"], dirs["w"]).validate()
    OverlayOptions((dirs["l1"], dirs["l2"])).validate()  # read-only: two lowers


def bad_cases(d: dict[str, str], tmp: Path) -> list[tuple[OverlayOptions, str]]:
    (tmp / "file").write_text("x")
    (tmp / "l1" / "inner").mkdir()
    (tmp / "u" / "inner").mkdir()
    (tmp / "w" / "inner").mkdir()
    f = str(tmp / "file")
    return [
        (OverlayOptions(("/nonexistent-layer", d["l1"])), "lowerdir /nonexistent-layer: no such"),
        (OverlayOptions((d["l1"], f)), f"lowerdir {f}: not a directory (a regular file)"),
        (OverlayOptions((d["l1"],), f, d["w"]), f"upperdir {f}: not a directory"),
        (OverlayOptions((d["l1"],), d["u"], f + "/x"), "a parent is not a directory"),
        (OverlayOptions((d["l1"],), d["u"], None), "workdir: missing"),
        (OverlayOptions((d["l1"],), None, d["w"]), "upperdir: missing"),
        (OverlayOptions(()), "lowerdir: missing"),
        (OverlayOptions((d["l1"],)), "at least 2 layers are needed without an upperdir"),
        (OverlayOptions((d["l1"] + "\0x",), d["u"], d["w"]), "NUL"),
        (OverlayOptions((d["l1"] + "/" + "n" * 256,), d["u"], d["w"]), "longer than 255"),
        (OverlayOptions(("/" + "p/" * 2100,), d["u"], d["w"]), "path longer than 4095"),
        (OverlayOptions(("/a",) * 501, d["u"], d["w"]), "too many lower directories (501)"),
        (OverlayOptions((d["l1"],), d["l1"] + "/inner", d["w"]), "is inside lowerdir"),
        (OverlayOptions((d["u"] + "/inner",), d["u"], d["w"]), "is inside upperdir"),
        (OverlayOptions((d["l1"],), d["u"], d["u"] + "/inner"), "is inside upperdir"),
        (OverlayOptions((d["l1"],), d["w"] + "/inner", d["w"]), "is inside workdir"),
        (OverlayOptions((d["l1"],), d["u"], d["u"]), "is the same directory as upperdir"),
        (OverlayOptions((d["u"],), d["u"], d["w"]), "is the same directory as upperdir"),
        (OverlayOptions((d["l1"],), d["u"], "/dev/shm"), "on another filesystem than upperdir"),
        (OverlayOptions((d["l1"], d["l2"]), settings=(("bogus", ""),)), "unknown overlay mount"),
        (OverlayOptions((d["l1"], d["l2"]), settings=(("xino", "maybe"),)), "xino: value must"),
        (OverlayOptions((d["l1"], d["l2"]), flags=("rbind",)), "'rbind': not a mount flag"),
    ]


def test_validate_errors_write_nothing(dirs: dict[str, str], tmp_path: Path) -> None:
    cases = bad_cases(dirs, tmp_path)
    before = tree_state(tmp_path)
    for opts, message in cases:
        with pytest.raises(InvalidOption) as info:
            opts.validate()
        assert message in str(info.value), (opts, str(info.value))
        assert "\n" not in str(info.value)
    assert tree_state(tmp_path) == before


def test_validate_sees_through_symlinks(dirs: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "l1" / "inner").mkdir()
    (tmp_path / "link").symlink_to(dirs["l1"])
    upper = str(tmp_path / "link" / "inner")
    with pytest.raises(InvalidOption, match="is inside lowerdir"):
        OverlayOptions((dirs["l1"],), upper, dirs["w"]).validate()
    with pytest.raises(InvalidOption, match="is the same directory"):
        OverlayOptions((str(tmp_path / "link"),), dirs["l1"], dirs["w"]).validate()


_path_text = st.text(
    alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(
    lowers=st.lists(_path_text, min_size=1, max_size=5),
    datas=st.lists(_path_text, max_size=3),
    upper=st.none() | _path_text,
)
def test_any_paths_roundtrip_through_the_option_string(
    lowers: list[str], datas: list[str], upper: str | None
) -> None:
    opts = OverlayOptions(
        tuple(lowers), upper, None if upper is None else upper + "w", tuple(datas)
    )
    assert parse_options(opts.to_string()) == opts
    assert OverlayOptions.from_mount(opts.to_mount()) == opts
