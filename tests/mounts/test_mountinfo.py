"""mountinfo parsing and overlay layer discovery, on text and on real mounts."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from layerfs.errors import InvalidInput, Unsupported
from layerfs.mounts.mountinfo import (
    MountInfo,
    decode_super_options,
    mount_of,
    overlay_mount,
    parse_daemon_argv,
    parse_line,
    parse_mountinfo,
    path_in_mount,
    unescape_octal,
)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")

SAMPLE = (
    "36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 shared:7 - ext3 /dev/root "
    "rw,errors=continue\n"
    "52 27 0:41 / /tmp/exp/m rw,relatime - overlay none "
    "ro,lowerdir+=/tmp/l\\0544,lowerdir+=/tmp/c:olon,datadir+=/tmp/d1,redirect_dir=on\n"
)


def test_parse_lines_and_escapes() -> None:
    ext3, ovl = parse_mountinfo(SAMPLE)
    assert (ext3.mount_id, ext3.parent_id, ext3.device) == (36, 35, "98:0")
    assert (ext3.root, ext3.mount_point) == ("/mnt1", "/mnt 2")
    assert ext3.optional == ("master:1", "shared:7")
    assert (ext3.fstype, ext3.source, ext3.super_option("errors")) == ("ext3", "/dev/root",
                                                                      "continue")
    assert ovl.is_overlay and not ovl.is_fuse
    assert ovl.super_option("lowerdir+") == "/tmp/l,4"
    assert ovl.super_option("ro") == "" and ovl.super_option("index") is None
    assert unescape_octal("a\\011b\\134c") == "a\tb\\c"
    with pytest.raises(InvalidInput, match="malformed mountinfo line"):
        parse_line("1 2 3")


def test_decode_classic_and_new_api_options() -> None:
    classic = decode_super_options([
        "rw", "lowerdir=/a\\134:b:/c\\040d::/data", "upperdir=/u\\134:x",
        "workdir=/w\\134\\054y", "redirect_dir=on", "userxattr", "seclabel",
    ])
    assert classic.lowerdirs == ("/a:b", "/c d") and classic.datadirs == ("/data",)
    assert (classic.upperdir, classic.workdir) == ("/u:x", "/w,y")
    assert classic.setting("redirect_dir") == "on" and classic.userxattr
    assert classic.setting("seclabel") == "" and classic.flags == ("rw",)
    (ovl,) = parse_mountinfo(SAMPLE.splitlines()[1])
    new = decode_super_options(ovl.super_options)
    assert new.lowerdirs == ("/tmp/l,4", "/tmp/c:olon") and new.datadirs == ("/tmp/d1",)
    assert new.upperdir is None and new.readonly


def test_daemon_command_lines() -> None:
    spec = {"type": "fuse.layerfs", "source": "overlay",
            "options": ["lowerdir=/l1:/l\\:2", "upperdir=/u", "workdir=/w", "allow_other"]}
    argv = [sys.executable, "-m", "layerfs.mounts.fuse.daemon", json.dumps(spec), "/m", "5"]
    opts, target = parse_daemon_argv(argv) or (None, None)
    assert opts is not None and opts.lowerdirs == ("/l1", "/l:2") and target == "/m"
    fo = ["fuse-overlayfs", "-o", "lowerdir=/a:/b,upperdir=/u", "-oworkdir=/w", "-f", "/mnt"]
    opts, target = parse_daemon_argv(fo) or (None, None)
    assert opts is not None and (opts.lowerdirs, opts.workdir, target) == (("/a", "/b"), "/w",
                                                                          "/mnt")
    assert parse_daemon_argv(["sleep", "10"]) is None
    assert parse_daemon_argv(["x", "-o", "allow_other", "/m"]) is None


def test_not_an_overlay_and_undiscoverable_fuse() -> None:
    with pytest.raises(InvalidInput, match="not an overlay"):
        overlay_mount(mount_of("/proc"))
    ghost = MountInfo(1, 1, "0:1", "/", "/nowhere/at/all", ("rw",), (), "fuse.ghost", "ghost",
                      ("rw",))
    with pytest.raises(Unsupported, match="does not show FUSE layer options"):
        overlay_mount(ghost)


# ------------------------------------------------------------------ real mounts


def _umount(target: Path) -> None:
    while os.path.ismount(target):
        if subprocess.run(["umount", str(target)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(target)], check=True)


@contextlib.contextmanager
def mounted(target: Path, opts: str, cwd: Path | None = None) -> Iterator[Path]:
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(target)],
                   check=True, capture_output=True, cwd=cwd)
    try:
        yield target
    finally:
        _umount(target)


def dirs(tmp_path: Path, *names: str) -> list[Path]:
    out = []
    for name in names:
        (tmp_path / name).mkdir(parents=True)
        out.append(tmp_path / name)
    return out


@needs_root
def test_classic_mount_with_awkward_names(tmp_path: Path) -> None:
    a, b, u, w = dirs(tmp_path, "c:olon", "sp ace", "u,comma", "w")
    (a / "f").write_text("f")
    opts = (f"lowerdir={tmp_path}/c\\:olon:{b},upperdir={tmp_path}/u\\,comma,workdir={w},"
            "redirect_dir=on")
    with mounted(tmp_path / "m e", opts) as m:
        info = mount_of(str(m / "f"))
        assert info.mount_point == str(m)
        ov = overlay_mount(info)
        assert ov.lowerdirs == (str(a), str(b)) and ov.upperdir == str(u)
        assert ov.workdir == str(w) and ov.origin == "mountinfo"
        assert ov.options.setting("redirect_dir") == "on" and ov.redirect_follow
        assert path_in_mount(str(m / "f"), info) == "/f"
        assert path_in_mount(str(m), info) == "/"


_SYS = {"fsopen": 430, "fsconfig": 431, "fsmount": 432, "move_mount": 429}


def new_api_mount(target: Path, params: list[tuple[str, str]]) -> None:
    """fsopen/fsconfig/fsmount/move_mount (x86-64 and arm64 share these numbers)."""
    libc = ctypes.CDLL(None, use_errno=True)

    def call(name: str, *args: object) -> int:
        r = libc.syscall(_SYS[name], *args)
        if r < 0:
            e = ctypes.get_errno()
            raise OSError(e, f"{name}: {os.strerror(e)}")
        return int(r)

    fd = call("fsopen", b"overlay", 0)
    try:
        for key, value in params:
            call("fsconfig", fd, 1, key.encode(), os.fsencode(value), 0)
        call("fsconfig", fd, 6, None, None, 0)
        mfd = call("fsmount", fd, 0, 0)
        try:
            call("move_mount", mfd, b"", -100, os.fsencode(str(target)), 4)
        finally:
            os.close(mfd)
    finally:
        os.close(fd)


@needs_root
def test_new_api_lowerdir_plus_and_datadir(tmp_path: Path) -> None:
    l1, l2, d1, m = dirs(tmp_path, "l,1", "c:olon", "data", "m")
    new_api_mount(m, [("lowerdir+", str(l1)), ("lowerdir+", str(l2)), ("datadir+", str(d1))])
    try:
        info = mount_of(str(m))
        assert "lowerdir+=" in ",".join(info.super_options)
        ov = overlay_mount(info)
        assert ov.lowerdirs == (str(l1), str(l2)) and ov.options.datadirs == (str(d1),)
        assert ov.upperdir is None
    finally:
        _umount(m)


@needs_root
def test_relative_layer_paths_like_docker(tmp_path: Path) -> None:
    home = tmp_path / "overlay2"
    diff, work, low1, _ = dirs(home, "abc/diff", "abc/work", "l1/diff", "l2/diff")
    (home / "l").mkdir()
    os.symlink("../l1/diff", home / "l/AAA")
    os.symlink("../l2/diff", home / "l/BBB")
    opts = "lowerdir=l/AAA:l/BBB,upperdir=abc/diff,workdir=abc/work"
    with _mounted_rel(home, opts):
        ov = overlay_mount(mount_of(str(home / "abc/merged")))
        assert ov.relative_base == str(home)
        assert ov.lowerdirs == (str(home / "l/AAA"), str(home / "l/BBB"))
        assert ov.upperdir == str(diff) and ov.workdir == str(work)
        assert os.path.realpath(ov.lowerdirs[0]) == str(low1)


@contextlib.contextmanager
def _mounted_rel(home: Path, opts: str) -> Iterator[Path]:
    target = home / "abc/merged"
    target.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, "abc/merged"],
                   check=True, capture_output=True, cwd=home)
    try:
        yield target
    finally:
        _umount(target)


@needs_root
def test_bind_mount_of_a_subdirectory(tmp_path: Path) -> None:
    l1, l2, bind = dirs(tmp_path, "l1", "l2", "bind")
    (l1 / "sub").mkdir()
    (l1 / "sub/f").write_text("f")
    with mounted(tmp_path / "m", f"lowerdir={l1}:{l2}") as m:
        subprocess.run(["mount", "--bind", str(m / "sub"), str(bind)], check=True)
        try:
            info = mount_of(str(bind / "f"))
            assert info.root == "/sub" and info.mount_point == str(bind)
            assert path_in_mount(str(bind / "f"), info) == "/sub/f"
            assert overlay_mount(info).lowerdirs == (str(l1), str(l2))
        finally:
            _umount(bind)


@needs_root
@pytest.mark.skipif(shutil.which("fuse-overlayfs") is None, reason="fuse-overlayfs missing")
def test_fuse_overlayfs_layers_from_its_command_line(tmp_path: Path) -> None:
    l1, l2, u, w, m = dirs(tmp_path, "l1", "l2", "u", "w", "m")
    subprocess.run(["fuse-overlayfs", "-o", f"lowerdir={l1}:{l2},upperdir={u},workdir={w}",
                    str(m)], check=True, capture_output=True)
    try:
        for _ in range(50):
            if os.path.ismount(m):
                break
            time.sleep(0.05)
        info = mount_of(str(m))
        assert info.fstype == "fuse.fuse-overlayfs"
        assert not any(o.startswith("lowerdir") for o in info.super_options)
        ov = overlay_mount(info)
        assert ov.origin.startswith("cmdline of pid ")
        assert (ov.lowerdirs, ov.upperdir, ov.workdir) == ((str(l1), str(l2)), str(u), str(w))
    finally:
        subprocess.run(["fusermount3", "-u", str(m)], capture_output=True)
        _umount(m)


@needs_root
def test_layerfs_fuse_mount_layers_from_its_daemon(tmp_path: Path) -> None:
    pytest.importorskip("layerfs.union.view", reason="the union engine (UnionView) is not in yet")
    l1, l2, u, w, m = dirs(tmp_path, "l1", "l 2", "u", "w", "m")
    layerfs = [sys.executable, "-m", "layerfs.cli.main"]
    opts = f"lowerdir={l1}:{l2},upperdir={u},workdir={w}"
    subprocess.run([*layerfs, "mount", "--driver", "fuse", "-o", opts, str(m)], check=True,
                   capture_output=True, timeout=60)
    try:
        info = mount_of(str(m))
        assert info.fstype.startswith("fuse")
        ov = overlay_mount(info)
        assert ov.origin.startswith("cmdline of pid ")
        assert (ov.lowerdirs, ov.upperdir, ov.workdir) == ((str(l1), str(l2)), str(u), str(w))
    finally:
        subprocess.run([*layerfs, "umount", str(m)], capture_output=True, timeout=60)
        _umount(m)


AWKWARD = ["a b", "tab\tx", "nl\nx", "back\\slash", "com,ma", "co:lon", "eq=ual", "ünï"]


@needs_root
@pytest.mark.parametrize("api", ["classic", "new"])
def test_awkward_layer_names_survive_mountinfo(tmp_path: Path, api: str) -> None:
    from layerfs.mounts import kernel
    from layerfs.mounts.options import OverlayOptions

    layers = dirs(tmp_path, *AWKWARD)
    (m,) = dirs(tmp_path, "m")
    if api == "classic":
        kernel.mount_overlay(OverlayOptions(tuple(str(p) for p in layers)), str(m))
    else:
        new_api_mount(m, [("lowerdir+", str(p)) for p in layers])
    try:
        ov = overlay_mount(mount_of(str(m)))
        assert ov.lowerdirs == tuple(str(p) for p in layers)
    finally:
        _umount(m)
