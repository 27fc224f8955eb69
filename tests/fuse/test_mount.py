"""Mount life cycle: background and foreground, umount, signals, read-only, kill -9."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from layerfs.errors import InvalidOption, MountError
from layerfs.mounts import fuse, kernel
from layerfs.mounts.fuse import daemon
from layerfs.mounts.mount import Mount
from layerfs.union.changes import changes

from .conftest import Stack, force_umount, needs_root


def wait_for(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.02)


def check_merged_view(s: Stack) -> None:
    assert Path(s.m("f")).read_text() == "top"
    assert Path(s.m("only2")).read_text() == "two"
    assert sorted(os.listdir(s.m("dir"))) == ["a", "b"]
    assert os.readlink(s.m("link")) == "f"
    assert Path(s.m("link")).read_text() == "top"
    assert os.listdir(s.m("opq")) == ["shown"]
    if os.geteuid() == 0:
        assert not os.path.lexists(s.m("gone"))


def test_background_mount_and_umount(mounted: Callable[..., Stack]) -> None:
    s = mounted()
    assert kernel.is_mountpoint(s.merged)
    check_merged_view(s)
    Path(s.m("new")).write_text("n")
    assert Path(s.upper, "new").read_text() == "n"
    fuse.umount(s.merged)
    assert not kernel.is_mountpoint(s.merged)
    assert Path(s.upper, "new").read_text() == "n"


def test_foreground_helper_and_sigterm(stack: Stack) -> None:
    opts = ",".join(stack.mount_value().options)
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerfs.mounts.fuse.helper", "src", stack.merged, "-f",
         "-o", opts],
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: kernel.is_mountpoint(stack.merged) and os.path.exists(stack.m("f")))
        Path(stack.m("fg")).write_text("foreground")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not kernel.is_mountpoint(stack.merged)
    assert Path(stack.upper, "fg").read_text() == "foreground"


def test_sigterm_while_busy_loses_no_write(stack: Stack) -> None:
    pid = daemon.start_background(stack.mount_value(), stack.merged)
    f = open(stack.m("busy"), "wb")  # noqa: SIM115 - held open across the SIGTERM
    try:
        f.write(b"a" * 100_000)
        f.flush()
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not kernel.is_mountpoint(stack.merged))  # detached lazily
        f.write(b"b" * 100_000)
        f.flush()
        os.fsync(f.fileno())
    finally:
        f.close()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert Path(stack.upper, "busy").read_bytes() == b"a" * 100_000 + b"b" * 100_000


def test_readonly_without_upper(mounted: Callable[..., Stack]) -> None:
    s = mounted(upper=False)
    check_merged_view(s)
    for action in (
        lambda: Path(s.m("x")).write_text("x"),
        lambda: os.unlink(s.m("f")),
        lambda: os.mkdir(s.m("d2")),
        lambda: os.chmod(s.m("f"), 0o600),
    ):
        with pytest.raises(OSError) as e:
            action()
        assert e.value.errno == errno.EROFS
    assert os.listdir(s.upper) == []


def test_kill9_leaves_a_mount_umount_clears(stack: Stack) -> None:
    pid = daemon.start_background(stack.mount_value(), stack.merged)
    Path(stack.m("kept")).write_text("kept")
    os.unlink(stack.m("only2"))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    with pytest.raises(OSError) as e:
        os.stat(stack.m("kept"))
    assert e.value.errno == errno.ENOTCONN
    assert kernel.is_mountpoint(stack.merged)
    fuse.umount(stack.merged)
    assert not kernel.is_mountpoint(stack.merged)
    # the upper dir is intact: the engine's changes and (as root) the kernel read it
    found = {(c.kind, c.path) for c in changes(stack.upper, list(stack.lowers))}
    assert {("A", "/kept"), ("D", "/only2")} <= found
    if os.geteuid() == 0:
        m = Mount("overlay", "overlay", stack.mount_value().options)
        kernel.mount(m, stack.merged)
        try:
            assert Path(stack.m("kept")).read_text() == "kept"
            assert not os.path.exists(stack.m("only2"))
            assert Path(stack.m("f")).read_text() == "top"
        finally:
            kernel.umount(stack.merged)


def test_bad_options_mount_nothing(stack: Stack) -> None:
    with pytest.raises(InvalidOption):
        fuse.mount(Mount("fuse.layerfs", "x", ("lowerdir=" + stack.root.as_posix() + "/nope",
                                               f"upperdir={stack.upper}",
                                               f"workdir={stack.work}")), stack.merged)
    with pytest.raises(InvalidOption):
        fuse.mount(Mount("fuse.layerfs", "x", ("lowerdir=/a", "bogus=1")), stack.merged)
    assert not kernel.is_mountpoint(stack.merged)
    assert os.listdir(stack.upper) == []


@needs_root
def test_umount_of_nothing_fails(tmp_path: Path) -> None:
    with pytest.raises(MountError):
        fuse.umount(str(tmp_path))


def test_remount_same_dirs(mounted: Callable[..., Stack]) -> None:
    s = mounted()
    Path(s.m("dir/c")).write_text("c")
    os.unlink(s.m("dir/a"))
    fuse.umount(s.merged)
    force_umount(s.merged)
    s = mounted()
    assert sorted(os.listdir(s.m("dir"))) == ["b", "c"]


def test_lower_changed_under_the_mount_does_not_kill_the_daemon(
    mounted: Callable[..., Stack],
) -> None:
    """Undefined results, as with the kernel, but every request is still answered."""
    s = mounted()
    assert sorted(os.listdir(s.m("dir"))) == ["a", "b"]
    os.stat(s.m("only2"))
    lower = Path(s.lowers[1])
    (lower / "only2").unlink()
    (lower / "dir" / "a").unlink()
    (lower / "dir").rmdir()
    (lower / "dir2").write_text("now a file")
    for action in (
        lambda: os.stat(s.m("only2")),
        lambda: Path(s.m("only2")).read_text(),
        lambda: os.listdir(s.m("dir")),
        lambda: Path(s.m("dir/a")).read_text(),
        lambda: os.chmod(s.m("only2"), 0o600),
        lambda: os.rename(s.m("dir"), s.m("dir3")),
    ):
        try:
            action()
        except OSError as e:
            assert e.errno != errno.ENOTCONN
    Path(s.m("still")).write_text("alive")
    assert Path(s.m("still")).read_text() == "alive"
    assert Path(s.m("f")).read_text() == "top"
