"""Semantics where fuse-overlayfs 1.10 fails, and the identity of objects (st_dev, st_ino)."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from layerfs.mounts import fuse, kernel
from layerfs.mounts.mount import Mount

from .conftest import Stack, force_umount, needs_root


def remount(mounted: Callable[..., Stack], s: Stack) -> Stack:
    fuse.umount(s.merged)
    force_umount(s.merged)
    return mounted()


def test_directory_rename_uses_redirect(mounted: Callable[..., Stack]) -> None:
    s = mounted()
    os.rename(s.m("dir"), s.m("moved"))
    assert sorted(os.listdir(s.m("moved"))) == ["a", "b"]
    assert not os.path.exists(s.m("dir"))
    os.mkdir(s.m("sub"))
    os.rename(s.m("moved"), s.m("sub/deeper"))
    assert Path(s.m("sub/deeper/a")).read_text() == "a2"
    s = remount(mounted, s)
    assert sorted(os.listdir(s.m("sub/deeper"))) == ["a", "b"]
    assert not os.path.exists(s.m("dir"))
    assert not os.path.exists(s.m("moved"))


def test_redirect_dir_off_gives_exdev(mounted: Callable[..., Stack]) -> None:
    s = mounted("redirect_dir=off")
    with pytest.raises(OSError) as e:
        os.rename(s.m("dir"), s.m("moved"))
    assert e.value.errno == errno.EXDEV


def test_name_length_limits(mounted: Callable[..., Stack]) -> None:
    s = mounted()
    ok = "n" * 255
    Path(s.m(ok)).write_text("x")
    assert ok in os.listdir(s.merged)
    for action in (
        lambda: Path(s.m("n" * 256)).write_text("x"),
        lambda: os.stat(s.m("n" * 256)),
        lambda: os.mkdir(s.m("d" * 300)),
        lambda: os.rename(s.m(ok), s.m("r" * 256)),
    ):
        with pytest.raises(OSError) as e:
            action()
        assert e.value.errno == errno.ENAMETOOLONG


def _descend(root: str, comps: list[str], *, create: bool = False) -> int:
    """An fd of root/comps..., walked one component at a time (no long path strings)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for comp in comps:
        if create:
            os.mkdir(comp, dir_fd=fd)
        nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    return fd


def test_paths_near_path_max(mounted: Callable[..., Stack]) -> None:
    s = mounted()
    comps = ["p" * 200] * 20
    leaf = "L" * 60
    assert len("/".join([*comps, leaf])) == 4080  # PATH_MAX is 4096 with the NUL
    fd = _descend(s.merged, comps, create=True)
    try:
        wfd = os.open(leaf, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(wfd, b"deep")
        os.close(wfd)
        os.rename(leaf, leaf[:-1] + "2", src_dir_fd=fd, dst_dir_fd=fd)
        assert os.listdir(fd) == [leaf[:-1] + "2"]
    finally:
        os.close(fd)
    fd = _descend(s.upper, comps)
    try:
        with open(os.open(leaf[:-1] + "2", os.O_RDONLY, dir_fd=fd), "rb") as f:
            assert f.read() == b"deep"
    finally:
        os.close(fd)
    s = remount(mounted, s)
    fd = _descend(s.merged, comps)
    try:
        with open(os.open(leaf[:-1] + "2", os.O_RDONLY, dir_fd=fd), "rb") as f:
            assert f.read() == b"deep"
    finally:
        os.close(fd)


@pytest.mark.parametrize("name", ["only2", "fresh"])
def test_fstat_of_open_unlinked_file(mounted: Callable[..., Stack], name: str) -> None:
    s = mounted()
    if name == "fresh":
        Path(s.m(name)).write_text("fresh")
    fd = os.open(s.m(name), os.O_RDONLY)
    try:
        os.unlink(s.m(name))
        assert os.fstat(fd).st_nlink == 0
        assert os.read(fd, 10) in (b"two", b"fresh")
    finally:
        os.close(fd)
    assert not os.path.exists(s.m(name))


def test_hard_links_survive_copy_up_and_remount(mounted: Callable[..., Stack]) -> None:
    s = mounted()
    os.link(s.m("only2"), s.m("twin"))  # link() copies the lower file up first
    with open(s.m("twin"), "r+b") as f:
        f.seek(0, os.SEEK_END)
        f.write(b"-more")
    assert Path(s.m("only2")).read_bytes() == b"two-more"
    a, b = os.stat(s.m("only2")), os.stat(s.m("twin"))
    assert (a.st_ino, a.st_nlink) == (b.st_ino, 2)
    # the lower pair: writing one name breaks the link (index=off), the other keeps data
    with open(s.m("hl1"), "ab") as f:
        f.write(b"!")
    assert Path(s.m("hl2")).read_bytes() == b"linked data"
    s = remount(mounted, s)
    assert Path(s.m("only2")).read_bytes() == b"two-more"
    assert Path(s.m("twin")).read_bytes() == b"two-more"
    assert Path(s.m("hl1")).read_bytes() == b"linked data!"
    assert Path(s.m("hl2")).read_bytes() == b"linked data"
    assert os.stat(s.m("twin")).st_ino == os.stat(s.m("only2")).st_ino


def test_every_object_reports_the_mount_dev(mounted: Callable[..., Stack]) -> None:
    s = mounted()
    Path(s.m("up")).write_text("u")
    dev = os.stat(s.merged).st_dev
    assert dev != os.stat(s.upper).st_dev
    for rel in ("f", "only2", "dir", "dir/a", "dir/b", "link", "up", "opq/shown"):
        assert os.lstat(s.m(rel)).st_dev == dev, rel


def test_inode_numbers_stable_through_copy_up(mounted: Callable[..., Stack]) -> None:
    s = mounted()
    before = {rel: os.lstat(s.m(rel)).st_ino for rel in ("f", "only2", "dir", "dir/a")}
    os.chmod(s.m("only2"), 0o600)  # copy-up of a file
    Path(s.m("dir/new")).write_text("n")  # copy-up of a directory
    with open(s.m("f"), "ab") as f:
        f.write(b"+")
    if os.geteuid() == 0:
        Path("/proc/sys/vm/drop_caches").write_text("2")  # the kernel forgets its inodes
    after = {rel: os.lstat(s.m(rel)).st_ino for rel in before}
    assert after == before
    names = {e.name: e.inode() for e in os.scandir(s.merged)}
    assert names["only2"] == before["only2"]


def test_whiteout_opaque_and_chmod_semantics(mounted: Callable[..., Stack]) -> None:
    s = mounted()
    os.unlink(s.m("only2"))
    assert not os.path.exists(s.m("only2"))
    os.mkdir(s.m("only2"))  # mkdir over a whiteout: an opaque dir
    assert os.listdir(s.m("only2")) == []
    os.chmod(s.m("f"), 0o640)
    assert stat.S_IMODE(os.stat(s.m("f")).st_mode) == 0o640
    assert Path(s.upper, "f").read_text() == "top"
    with pytest.raises(OSError) as e:
        os.rmdir(s.m("dir"))
    assert e.value.errno == errno.ENOTEMPTY


@needs_root
def test_root_writes_the_kernel_form(mounted: Callable[..., Stack]) -> None:
    s = mounted()
    os.unlink(s.m("only2"))
    shutil.rmtree(s.m("dir"))
    Path(s.m("made")).write_text("m")
    st = os.lstat(os.path.join(s.upper, "only2"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    fuse.umount(s.merged)
    kernel.mount(Mount("overlay", "overlay", s.mount_value().options), s.merged)
    try:
        names = set(os.listdir(s.merged))
        assert {"made", "f", "opq", "link"} <= names
        assert not {"only2", "dir", "gone"} & names
    finally:
        kernel.umount(s.merged)


def test_caller_owns_what_it_creates(mounted: Callable[..., Stack]) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can create files as another user")
    s = mounted()
    os.chmod(s.merged, 0o777)
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(s.merged)  # the pytest tmp dirs above are private to root
            os.setgroups([])
            os.setgid(4321)
            os.setuid(1234)
            Path("mine").write_text("x")
            os.mkdir("mydir")
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    for rel in ("mine", "mydir"):
        st = os.lstat(s.m(rel))
        assert (st.st_uid, st.st_gid) == (1234, 4321)


def test_fd_opened_before_copy_up_reads_the_copy(mounted: Callable[..., Stack]) -> None:
    """As on the kernel overlay (without passthrough: see the package docstring)."""
    s = mounted("passthrough=off")
    old = os.open(s.m("only2"), os.O_RDONLY)
    try:
        with open(s.m("only2"), "r+b") as f:
            f.write(b"TWO")
        assert os.pread(old, 10, 0) == b"TWO"
    finally:
        os.close(old)
    assert Path(s.lowers[1], "only2").read_bytes() == b"two"
