"""Faults: kill -9 of the container's process, of its monitor, and of `layerfs commit`.
Afterwards no half image is visible, fsck is clean and the container is removable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from runtime.conftest import LAYERFS, Env, requires_runtime

pytestmark = requires_runtime


def _inspect(env: Env, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(env.out("inspect", name))[0]  # type: ignore[no-any-return]


def _wait_status(env: Env, name: str, status: str) -> dict:  # type: ignore[type-arg]
    for _ in range(200):
        state = _inspect(env, name)["State"]
        if state["Status"] == status:
            return state  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"{name} never became {status}: {state}")


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def test_kill_9_of_the_container_process(env: Env) -> None:
    env.run("run", "-d", "--name", "k", "busybox", "sleep", "3600")
    pid = _inspect(env, "k")["State"]["Pid"]
    os.kill(pid, signal.SIGKILL)
    state = _wait_status(env, "k", "exited")
    assert state["ExitCode"] == 137
    env.run("rm", "k")
    assert "clean" in env.out("fsck")


def test_kill_9_of_the_monitor(env: Env) -> None:
    env.run("run", "-d", "--name", "m", "busybox", "sleep", "3600")
    pid = _inspect(env, "m")["State"]["Pid"]
    os.kill(_ppid(pid), signal.SIGKILL)  # the monitor is the container's subreaper parent
    time.sleep(0.2)
    assert _inspect(env, "m")["State"]["Status"] == "running"  # the container lives on
    assert env.out("exec", "m", "echo", "alive") == "alive\n"
    env.run("rm", "-f", "m")
    assert not os.path.exists(f"/proc/{pid}/cmdline") or _zombie_or_gone(pid)
    assert "clean" in env.out("fsck")


def _zombie_or_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_kill_9_of_layerfs_during_commit(env: Env) -> None:
    env.run("run", "-d", "--name", "c", "busybox", "sleep", "3600")
    env.run("exec", "c", "sh", "-c", "dd if=/dev/urandom of=/big bs=1M count=48 2>/dev/null")
    images_before = env.out("images", "-q")
    full_env = {**os.environ, "LAYERFS_ROOT": env.root}
    for delay in (0.2, 0.5, 0.9):
        proc = subprocess.Popen([LAYERFS, "commit", "c", "half:made"], env=full_env)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        listed = env.out("images", "--format", "{{.Repository}}:{{.Tag}}").split()
        if "half:made" in listed:  # finished before the kill: then it is whole
            env.run("run", "--rm", "half:made", "test", "-s", "/big")
            env.run("rmi", "half:made")
        assert env.out("images", "-q") == images_before
        assert "clean" in env.out("fsck")
    env.run("exec", "c", "test", "-s", "/big")  # the container is untouched
    env.run("rm", "-f", "c")
    assert "clean" in env.out("fsck")
    assert os.listdir(os.path.join(env.root, "containers")) == []


def test_a_reused_pid_is_not_the_container(env: Env) -> None:
    """After a reboot the record may say "running" with a pid that now names another
    process: without its monitor and with another start time, it is finalized."""
    from layerfs.runtime import containers as records
    from layerfs.runtime.lifecycle import refresh

    env.run("create", "--name", "r", "busybox", "true")
    with env.store() as store:
        c = records.resolve(store, "r")
        records.set_state(store, c.id, status="running", pid=os.getpid(), pid_start=1)
        state = refresh(store, records.read(store, c.id)).state
    assert state.status == "exited" and state.exit_code is None
    assert "Exited (unknown)" in env.out("ps", "-a")
    env.run("rm", "r")
