"""The kernel driver on real mounts: mount(2), the new mount API, umount, errors (root)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from treestate import tree_state

from layerfs.errors import InvalidOption, MountError
from layerfs.mounts import kernel
from layerfs.mounts.mount import Mount
from layerfs.mounts.options import OverlayOptions, parse_options

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="kernel mounts need root")


@pytest.fixture
def targets() -> Iterator[list[str]]:
    """Mount points a test used: whatever is still mounted there is unmounted (lazily)."""
    used: list[str] = []
    try:
        yield used
    finally:
        for target in reversed(used):
            while kernel.is_mountpoint(target):
                kernel.umount(target, lazy=True)


def make_stack(root: Path, n: int, name: str = "layer") -> tuple[list[str], str, str, str]:
    """n lower dirs (each with own-<i> and a shared file naming its layer), upper, work, merged."""
    lowers = []
    for i in range(n):
        d = root / f"{name}-{i:03d}"
        d.mkdir(parents=True)
        (d / f"own-{i}").write_text(str(i))
        (d / "shared").write_text(str(i))
        lowers.append(str(d))
    for n_ in ("upper", "work", "merged"):
        (root / n_).mkdir()
    return lowers, str(root / "upper"), str(root / "work"), str(root / "merged")


def mountinfo_fields(target: str) -> list[str]:
    """The fields of the topmost mount at `target` (the last line for it)."""
    with open("/proc/self/mountinfo") as f:
        found = [fields for fields in map(str.split, f) if fields[4] == target]
    assert found, f"{target} not in mountinfo"
    return found[-1]


def mountinfo_options(target: str) -> str:
    """The superblock options (the last field)."""
    return mountinfo_fields(target)[-1]


def test_classic_mount_umount(tmp_path: Path, targets: list[str]) -> None:
    lowers, upper, work, merged = make_stack(tmp_path, 2)
    targets.append(merged)
    assert not kernel.is_mountpoint(merged)
    kernel.mount_overlay(OverlayOptions(tuple(lowers), upper, work), merged)
    assert kernel.is_mountpoint(merged)
    assert sorted(os.listdir(merged)) == ["own-0", "own-1", "shared"]
    assert Path(merged, "shared").read_text() == "0"  # the first lowerdir is the top
    assert mountinfo_options(merged).split(",")[1].startswith("lowerdir=")  # mount(2)
    Path(merged, "new").write_text("x")
    assert Path(upper, "new").read_text() == "x"
    kernel.umount(merged)
    assert not kernel.is_mountpoint(merged)
    assert os.listdir(merged) == []


def test_long_option_string_uses_new_api(tmp_path: Path, targets: list[str]) -> None:
    # 20 layers of ~230 bytes each: > 4096 bytes of options, each path < 256 (strings)
    lowers, upper, work, merged = make_stack(tmp_path / ("p" * 150), 20, "q" * 40)
    targets.append(merged)
    opts = OverlayOptions(tuple(lowers), upper, work, flags=("nodev", "noatime", "sync"))
    assert len(",".join(opts.data_options())) >= kernel.page_size()
    kernel.mount_overlay(opts, merged)
    assert "lowerdir+=" in mountinfo_options(merged)
    assert {"nodev", "noatime"} <= set(mountinfo_fields(merged)[5].split(","))  # fsmount attrs
    assert "sync" in mountinfo_options(merged).split(",")  # a superblock flag (fsconfig)
    assert len(os.listdir(merged)) == 21
    assert Path(merged, "shared").read_text() == "0"


def test_500_layers_long_paths_501_fails(tmp_path: Path, targets: list[str]) -> None:
    deep = tmp_path / ("d" * 200) / ("e" * 200)
    lowers, upper, work, merged = make_stack(deep, 501, "layer-" + "x" * 150)
    assert all(len(p) > 400 for p in lowers)  # longer than fsconfig's 255-byte strings
    targets.append(merged)
    kernel.mount_overlay(OverlayOptions(tuple(lowers[:500]), upper, work), merged)
    names = os.listdir(merged)
    assert len(names) == 501
    assert Path(merged, "own-499").read_text() == "499"
    assert Path(merged, "shared").read_text() == "0"
    Path(merged, "own-250").write_text("changed")  # copy-up from layer 250
    assert Path(upper, "own-250").read_text() == "changed"
    kernel.umount(merged)

    too_many = OverlayOptions(tuple(lowers), upper, work)
    with pytest.raises(InvalidOption, match=r"too many lower directories \(501\), limit is 500"):
        kernel.mount_overlay(too_many, merged)
    # past our own validation the kernel refuses too, and says why
    with pytest.raises(MountError, match="too many lower directories") as info:
        kernel._overlay_new_api(too_many, "overlay", merged, 0)
    assert info.value.errno == errno.EINVAL
    assert not kernel.is_mountpoint(merged)


def test_new_api_reports_the_fs_context_log(tmp_path: Path) -> None:
    lowers, _, _, merged = make_stack(tmp_path, 2)
    bogus = OverlayOptions(tuple(lowers), settings=(("bogus", ""),))  # past parse/validate
    with pytest.raises(MountError, match="overlay: Unknown parameter 'bogus'"):
        kernel._overlay_new_api(bogus, "overlay", merged, 0)


@pytest.mark.parametrize("long", [False, True], ids=["mount2", "fsopen"])
def test_kernel_message_on_refusal_and_nothing_written(
    tmp_path: Path, targets: list[str], long: bool
) -> None:
    lowers, upper, work, merged = make_stack(tmp_path / ("p" * 200 if long else "s"), 20)
    targets.append(merged)
    # userxattr with redirect_dir=on: valid syntax, refused by the kernel itself
    opts = OverlayOptions(tuple(lowers), upper, work).with_setting("userxattr")
    opts = opts.with_setting("redirect_dir", "on")
    before = tree_state(tmp_path)
    with pytest.raises(MountError) as info:
        kernel.mount_overlay(opts, merged)
    assert "conflicting options" in str(info.value)
    assert info.value.errno == errno.EINVAL
    assert "\n" not in str(info.value)
    assert tree_state(tmp_path) == before
    assert not kernel.is_mountpoint(merged)


def test_escaped_names_both_apis(tmp_path: Path, targets: list[str]) -> None:
    odd = tmp_path / "odd:name,with\\chars"
    odd.mkdir()
    (odd / "f").write_text("odd")
    lowers, upper, work, merged = make_stack(tmp_path / "u,p:p", 1)
    targets.append(merged)
    opts = parse_options(
        OverlayOptions((str(odd), *lowers), upper, work).to_string()
    )  # through the text form
    assert opts.lowerdirs[0] == str(odd)
    kernel.mount_overlay(opts, merged)
    assert Path(merged, "f").read_text() == "odd"
    Path(merged, "g").write_text("g")
    assert Path(upper, "g").exists()
    kernel.umount(merged)
    kernel._overlay_new_api(opts, "overlay", merged, 0)
    assert Path(merged, "f").read_text() == "odd"
    assert Path(merged, "g").read_text() == "g"


def test_readonly_flag(tmp_path: Path, targets: list[str]) -> None:
    lowers, _, _, merged = make_stack(tmp_path, 2)
    targets.append(merged)
    kernel.mount(parse_options(f"lowerdir={lowers[0]}:{lowers[1]},nosuid,ro").to_mount(), merged)
    assert Path(merged, "shared").read_text() == "0"
    with pytest.raises(OSError) as info:
        Path(merged, "x").write_text("x")
    assert info.value.errno == errno.EROFS
    assert os.statvfs(merged).f_flag & os.ST_NOSUID


def test_bind_tmpfs_and_propagation(tmp_path: Path, targets: list[str]) -> None:
    src, dst, tmp = tmp_path / "src", tmp_path / "dst", tmp_path / "tmp"
    for d in (src, dst, tmp):
        d.mkdir()
    (src / "f").write_text("bound")
    targets.extend([str(dst), str(tmp)])
    kernel.mount(Mount("bind", str(src), ("rbind", "ro", "rprivate")), str(dst))
    assert kernel.is_mountpoint(str(dst))
    assert (dst / "f").read_text() == "bound"
    with pytest.raises(OSError, match="Read-only"):
        (dst / "g").write_text("x")
    kernel.mount(Mount("tmpfs", "tmpfs", ("size=1m", "mode=700", "nodev")), str(tmp))
    st = os.statvfs(tmp)
    assert st.f_blocks * st.f_frsize == 1024 * 1024
    assert st.f_flag & os.ST_NODEV
    # a single file bound onto a file
    (tmp_path / "file-target").write_text("")
    targets.append(str(tmp_path / "file-target"))
    kernel.mount(Mount("bind", str(src / "f"), ("bind",)), str(tmp_path / "file-target"))
    assert (tmp_path / "file-target").read_text() == "bound"
    kernel.mount(Mount("bind", str(src), ("bind", "unbindable")), str(dst))
    assert "unbindable" in mountinfo_fields(str(dst))[6]


def test_mount_is_all_or_nothing(
    tmp_path: Path, targets: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    (src / "f").write_text("bound")
    targets.append(str(dst))

    def refuse(target: str, kind: str, *, recursive: bool = False) -> None:
        raise MountError(f"refused {kind}")

    monkeypatch.setattr(kernel, "set_propagation", refuse)
    with pytest.raises(MountError, match="refused private"):
        kernel.mount(Mount("bind", str(src), ("rbind", "ro", "rprivate")), str(dst))
    assert not kernel.is_mountpoint(str(dst))  # the bind mount was taken back


def test_mount_errors(tmp_path: Path) -> None:
    lowers, upper, work, _ = make_stack(tmp_path, 2)
    opts = OverlayOptions(tuple(lowers), upper, work)
    with pytest.raises(InvalidOption, match=r"mount point .*: no such directory"):
        kernel.mount_overlay(opts, str(tmp_path / "missing"))
    assert not (tmp_path / "missing").exists()
    (tmp_path / "afile").write_text("")
    with pytest.raises(InvalidOption, match="not a directory"):
        kernel.mount_overlay(opts, str(tmp_path / "afile"))
    with pytest.raises(MountError, match=r"(?i)no such device"):
        kernel.mount(Mount("nosuchfs", "none"), str(tmp_path / "upper"))


def test_umount_errors(tmp_path: Path, targets: list[str]) -> None:
    with pytest.raises(MountError, match="not a mount point") as info:
        kernel.umount(str(tmp_path))
    assert info.value.errno == errno.EINVAL
    with pytest.raises(MountError, match="no such file"):
        kernel.umount(str(tmp_path / "missing"))
    with pytest.raises(InvalidOption, match="NUL"):
        kernel.umount(f"{tmp_path}\0/x")  # never cut short to umount its prefix
    assert not kernel.is_mountpoint("/proc\0")
    lowers, upper, work, merged = make_stack(tmp_path, 2)
    targets.append(merged)
    kernel.mount_overlay(OverlayOptions(tuple(lowers), upper, work), merged)
    fd = os.open(os.path.join(merged, "shared"), os.O_RDONLY)
    try:
        with pytest.raises(MountError, match="busy") as info:
            kernel.umount(merged)
        assert info.value.errno == errno.EBUSY
        kernel.umount(merged, lazy=True)
        assert not kernel.is_mountpoint(merged)
        assert os.read(fd, 10) == b"0"  # a lazily detached mount stays usable for open fds
    finally:
        os.close(fd)


def test_is_mountpoint(tmp_path: Path) -> None:
    assert kernel.is_mountpoint("/")
    assert kernel.is_mountpoint("/proc")
    assert not kernel.is_mountpoint(str(tmp_path))
    assert not kernel.is_mountpoint(str(tmp_path / "missing"))
    (tmp_path / "f").write_text("")
    assert not kernel.is_mountpoint(str(tmp_path / "f"))
    (tmp_path / "link").symlink_to("/proc")
    assert not kernel.is_mountpoint(str(tmp_path / "link"))  # a symlink is never one


def test_upperdir_on_readonly_mount(tmp_path: Path, targets: list[str]) -> None:
    lowers, upper, work, merged = make_stack(tmp_path / "stack", 2)
    ro = tmp_path / "ro"
    ro.mkdir()
    targets.append(str(ro))
    kernel.mount(Mount("bind", str(tmp_path / "stack"), ("bind", "ro")), str(ro))
    opts = OverlayOptions(tuple(lowers), str(ro / "upper"), str(ro / "work"))
    with pytest.raises(InvalidOption, match=r"upperdir .*/ro/upper: on a read-only mount"):
        kernel.mount_overlay(opts, merged)
    # lowers may live there
    kernel.mount_overlay(OverlayOptions((str(ro / "layer-000"), *lowers[1:]), upper, work), merged)
    targets.append(merged)
    assert Path(merged, "shared").read_text() == "0"


def test_dead_fuse_mount_is_a_mountpoint_and_unmounts(tmp_path: Path, targets: list[str]) -> None:
    """A FUSE mount whose server is gone (ENOTCONN on every access) still unmounts."""
    target = str(tmp_path / "dead")
    os.mkdir(target)
    targets.append(target)
    fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    try:
        options = (f"fd={fd}", "rootmode=40000", "user_id=0", "group_id=0", "nosuid", "nodev")
        kernel.mount(Mount("fuse.layerfs-test", "dead", options), target)
    finally:
        os.close(fd)  # the "server" is gone before it ever answered
    with pytest.raises(OSError) as info:
        os.stat(target)
    assert info.value.errno == errno.ENOTCONN
    assert kernel.is_mountpoint(target)
    kernel.umount(target)
    assert not kernel.is_mountpoint(target)
    assert os.listdir(target) == []
