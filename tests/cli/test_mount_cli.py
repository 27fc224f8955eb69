"""`layerfs mount` / `layerfs umount`: real kernel mounts, driver choice, bad input."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from layerfs.cli.main import cli
from layerfs.errors import MountError
from layerfs.mounts import fuse, kernel, userns
from layerfs.mounts.mount import Mount

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="kernel mounts need root")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def tree_state(root: Path) -> list[tuple[str, int, int, int]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            out.append((os.path.join(dirpath, name), st.st_mode, st.st_size, st.st_mtime_ns))
    return sorted(out)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, str]]:
    """l1 (top), l2, upper, work, merged under tmp_path; merged unmounted afterwards."""
    for name in ("l1", "l2", "u", "w", "m"):
        (tmp_path / name).mkdir()
    (tmp_path / "l1" / "f").write_text("top")
    (tmp_path / "l2" / "f").write_text("bottom")
    (tmp_path / "l2" / "g").write_text("g")
    d = {n: str(tmp_path / n) for n in ("l1", "l2", "u", "w", "m")}
    d["opts"] = f"lowerdir={d['l1']}:{d['l2']},upperdir={d['u']},workdir={d['w']}"
    try:
        yield d
    finally:
        while kernel.is_mountpoint(d["m"]):
            kernel.umount(d["m"], lazy=True)


@needs_root
def test_mount_then_umount(stack: dict[str, str]) -> None:
    res = run("mount", "-o", stack["opts"], stack["m"])
    assert (res.exit_code, res.output) == (0, ""), res.output
    assert kernel.is_mountpoint(stack["m"])
    assert Path(stack["m"], "f").read_text() == "top"
    Path(stack["m"], "new").write_text("n")
    assert Path(stack["u"], "new").read_text() == "n"
    res = run("umount", stack["m"])
    assert res.exit_code == 0, res.output
    assert not kernel.is_mountpoint(stack["m"])


@needs_root
def test_mount_syntax_variants(
    stack: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # relative paths, several -o, -t overlay, escaped ',' and ':' in names, flags
    odd = tmp_path / "a,b:c"
    odd.mkdir()
    (odd / "odd").write_text("odd")
    monkeypatch.chdir(tmp_path)
    res = run(
        "mount", "-t", "overlay", "-o", r"lowerdir=a\,b\:c:l1:l2", "-o", "upperdir=u,workdir=w",
        "-o", "ro,noatime", "m",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert Path(stack["m"], "odd").read_text() == "odd"
    assert Path(stack["m"], "f").read_text() == "top"
    with pytest.raises(OSError, match="Read-only"):
        Path(stack["m"], "x").write_text("x")
    assert run("umount", "m").exit_code == 0


@needs_root
def test_mount_with_command_unmounts_after(stack: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    script = f"cat {stack['m']}/f > {out}; exit 3"
    res = run("mount", "-o", stack["opts"], stack["m"], "--", "sh", "-c", script)
    assert res.exit_code == 3
    assert out.read_text() == "top"
    assert not kernel.is_mountpoint(stack["m"])
    res = run("mount", "-o", stack["opts"], stack["m"], "--", "no-such-command-xyz")
    assert res.exit_code == 127
    assert "command not found" in res.output
    assert not kernel.is_mountpoint(stack["m"])


def bad_inputs(d: dict[str, str], tmp: Path, other_fs: str) -> list[tuple[list[str], str]]:
    (tmp / "afile").write_text("x")
    (tmp / "l1" / "inner").mkdir()
    af, m = str(tmp / "afile"), d["m"]
    up_work = f"upperdir={d['u']},workdir={d['w']}"
    return [
        (["-o", f"lowerdir={tmp}/missing:{d['l2']},{up_work}", m], "no such directory"),
        (["-o", f"lowerdir={af}:{d['l2']},{up_work}", m], "not a directory (a regular file)"),
        (["-o", f"lowerdir={d['l1']},upperdir={d['u']},workdir={other_fs}", m],
         "on another filesystem than upperdir"),
        (["-o", f"lowerdir={d['l1']},upperdir={d['l1']}/inner,workdir={d['w']}", m],
         "is inside lowerdir"),
        (["-o", f"lowerdir={d['l1']}\0x,{up_work}", m], "NUL"),
        (["-o", f"lowerdir={d['l1']},{up_work}", m + "\0x"], "NUL"),
        (["-o", f"lowerdir={d['l1']},upperdir={d['u']}", m], "workdir: missing"),
        (["-o", f"lowerdirs={d['l1']},{up_work}", m], "did you mean 'lowerdir'"),
        (["-o", f"lowerdir={d['l1']},{up_work},index=maybe", m], "index: value must be"),
        (["-o", "lowerdir=" + ":".join([d["l1"]] * 501) + f",{up_work}", m],
         "too many lower directories (501), limit is 500"),
        (["-o", f"lowerdir={d['l1']},{up_work}", str(tmp / "nodir")], "no such directory"),
        (["-o", f"lowerdir={d['l1']},{up_work}", af], "not a directory"),
        (["-t", "ext4", "-o", f"lowerdir={d['l1']},{up_work}", m], "only overlay"),
        (["--driver", "kernel", "-f", "-o", f"lowerdir={d['l1']},{up_work}", m],
         "FUSE driver only"),
        (["--source", "my/stack", "-o", f"lowerdir={d['l1']},{up_work}", m], "single name"),
        ([m], "Missing option '-o'"),
        (["--driver", "nfs", "-o", f"lowerdir={d['l1']}", m], "Invalid value for '--driver'"),
    ]  # fmt: skip


def test_bad_input_one_line_nothing_written(stack: dict[str, str], tmp_path: Path) -> None:
    other_fs = tempfile.mkdtemp(prefix="layerfs-cli-", dir="/dev/shm")
    try:
        cases = bad_inputs(stack, tmp_path, other_fs)
        before = tree_state(tmp_path)
        for args, message in cases:
            res = run("mount", *args)
            assert res.exit_code in (1, 2), (args, res.output)
            assert message in res.output, (args, res.output)
            if res.exit_code == 1:
                assert len(res.output.strip().splitlines()) == 1, res.output
                assert res.output.startswith("layerfs: error: ")
            assert not kernel.is_mountpoint(stack["m"])
        assert tree_state(tmp_path) == before
        assert os.listdir(other_fs) == []
    finally:
        shutil.rmtree(other_fs)


@needs_root
def test_kernel_refusal_is_one_line(stack: dict[str, str], tmp_path: Path) -> None:
    before = tree_state(tmp_path)
    res = run("mount", "-o", stack["opts"] + ",userxattr,redirect_dir=on", stack["m"])
    assert res.exit_code == 1
    assert "conflicting options" in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert tree_state(tmp_path) == before


def test_umount_errors(tmp_path: Path) -> None:
    res = run("umount", str(tmp_path))
    assert res.exit_code == 1
    assert res.output.strip() == f"layerfs: error: umount {tmp_path}: not a mount point"
    res = run("umount", str(tmp_path / "missing"))
    assert res.exit_code == 1
    assert "no such file or directory" in res.output
    res = run("umount", f"{tmp_path}\0/x")
    assert res.exit_code == 1
    assert "contains a NUL byte" in res.output


# -- driver choice (the FUSE driver is replaced by a recorder here) -----------------------


@pytest.fixture
def fake_fuse(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Mount, str, bool]]:
    calls: list[tuple[Mount, str, bool]] = []

    def mount(m: Mount, target: str, *, foreground: bool = False) -> None:
        calls.append((m, target, foreground))

    monkeypatch.setattr(fuse, "mount", mount, raising=False)
    return calls


def test_driver_fuse_gets_the_mount(
    stack: dict[str, str], fake_fuse: list[tuple[Mount, str, bool]]
) -> None:
    res = run("mount", "--driver", "fuse", "-f", "-o", stack["opts"], stack["m"])
    assert res.exit_code == 0, res.output
    ((m, target, foreground),) = fake_fuse
    assert m.type == "fuse.layerfs" and m.source == "overlay"
    assert m.option("lowerdir") == f"{stack['l1']}:{stack['l2']}"
    assert m.option("upperdir") == stack["u"]
    assert (target, foreground) == (stack["m"], True)
    run("mount", "-f", "-o", stack["opts"], stack["m"])  # -f alone implies the FUSE driver
    assert len(fake_fuse) == 2
    # the FUSE driver's own options pass through to it, and select it
    res = run("mount", "-o", stack["opts"] + ",allow_other", "-o", "threads=4", stack["m"])
    assert res.exit_code == 0, res.output
    m = fake_fuse[2][0]
    assert m.options[-2:] == ("allow_other", "threads=4")
    assert m.option("lowerdir") == f"{stack['l1']}:{stack['l2']}"
    res = run("mount", "--driver", "kernel", "-o", stack["opts"] + ",allow_other", stack["m"])
    assert res.exit_code == 1
    assert "allow_other: an option of the FUSE driver" in res.output


def test_driver_fuse_missing_is_clear(
    stack: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(fuse, "mount", raising=False)
    res = run("mount", "--driver", "fuse", "-o", stack["opts"], stack["m"])
    assert res.exit_code == 1
    assert "FUSE driver is not available" in res.output


def test_non_root_driver_choice(
    stack: dict[str, str],
    fake_fuse: list[tuple[Mount, str, bool]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    ran: list[tuple[str, ...]] = []

    def fake_run(opts: object, target: str, argv: tuple[str, ...], *, source: str) -> int:
        ran.append(tuple(argv))
        return 5

    monkeypatch.setattr(userns, "run_in_namespace", fake_run)
    monkeypatch.setattr(userns, "restriction", lambda: None)
    # auto, no command: FUSE (a kernel mount would be invisible outside its namespace)
    assert run("mount", "-o", stack["opts"], stack["m"]).exit_code == 0
    assert len(fake_fuse) == 1
    # auto with a command: the kernel in a user namespace, CMD's status is ours
    assert run("mount", "-o", stack["opts"], stack["m"], "--", "true").exit_code == 5
    assert ran == [("true",)]
    res = run("mount", "--driver", "kernel", "-o", stack["opts"], stack["m"])
    assert res.exit_code == 1
    assert "visible only to a command run there" in res.output
    monkeypatch.setattr(userns, "restriction", lambda: "user.max_user_namespaces=0")
    res = run("mount", "--driver", "kernel", "-o", stack["opts"], stack["m"], "--", "true")
    assert res.exit_code == 1
    assert "user.max_user_namespaces=0" in res.output and "--driver fuse" in res.output
    assert run("mount", "-o", stack["opts"], stack["m"], "--", "true").exit_code == 0
    assert len(fake_fuse) == 2  # restricted: auto falls back to FUSE
    monkeypatch.setattr(userns, "restriction", lambda: None)

    def fuse_refused(m: Mount, target: str, *, foreground: bool = False) -> None:
        raise MountError("fusermount3: permission denied")

    monkeypatch.setattr(fuse, "mount", fuse_refused)
    res = run("mount", "-o", stack["opts"], stack["m"])
    assert res.exit_code == 1
    assert "permission denied" in res.output and "add -- CMD" in res.output


@needs_root
def test_real_fuse_mount_and_umount(stack: dict[str, str], tmp_path: Path) -> None:
    pytest.importorskip("layerfs.union.view", reason="the union engine serves FUSE mounts")
    res = run("mount", "--driver", "fuse", "-o", stack["opts"], stack["m"])
    assert res.exit_code == 0, res.output
    try:
        assert kernel.is_mountpoint(stack["m"])
        assert Path(stack["m"], "f").read_text() == "top"
        Path(stack["m"], "new").write_text("n")
    finally:
        res = run("umount", stack["m"])
    assert res.exit_code == 0, res.output
    assert not kernel.is_mountpoint(stack["m"])
    assert Path(stack["u"], "new").read_text() == "n"
    out = tmp_path / "out"
    script = f"cat {stack['m']}/g > {out}"
    argv = ["--driver", "fuse", "-o", stack["opts"], stack["m"], "--", "sh", "-c", script]
    res = run("mount", *argv)
    assert res.exit_code == 0, res.output
    assert out.read_text() == "g"
    assert not kernel.is_mountpoint(stack["m"])
