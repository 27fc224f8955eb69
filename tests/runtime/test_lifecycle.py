"""create/start/stop/kill/exec/logs/rm and the run options, through the CLI."""

from __future__ import annotations

import json
import os
import time

from runtime.conftest import Env, requires_runtime

pytestmark = requires_runtime


def _state(env: Env, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(env.out("inspect", name))[0]["State"]


def test_foreground_run_exit_code_output_and_logs(env: Env) -> None:
    proc = env.run(
        "run", "--name", "fg", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False
    )
    assert proc.returncode == 3
    assert proc.stdout == "out\n" and proc.stderr == "err\n"
    assert sorted(env.out("logs", "fg").splitlines()) == ["err", "out"]
    state = _state(env, "fg")
    assert state["Status"] == "exited" and state["ExitCode"] == 3
    assert "Exited (3)" in env.out("ps", "-a")
    assert env.out("ps").count("\n") == 1  # only the header: nothing runs


def test_run_options_env_workdir_user_network(env: Env) -> None:
    script = 'echo "$GREETING"; pwd; id -u; id -g; hostname; ls /sys/class/net; ulimit -n'
    out = env.out(
        "run",
        "--rm",
        "-e",
        "GREETING=hello",
        "-w",
        "/tmp",
        "-u",
        "app",
        "busybox",
        "sh",
        "-c",
        script,
    )
    lines = out.splitlines()
    assert lines[:4] == ["hello", "/tmp", "1000", "1000"]
    assert len(lines[4]) == 12  # hostname: the short container id
    assert lines[5] == "lo"  # --network none (default): loopback only
    assert int(lines[6]) > 0
    host = env.out("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net").split()
    assert sorted(host) == sorted(os.listdir("/sys/class/net"))
    assert env.out("run", "--rm", "-u", "65534:10", "busybox", "id", "-u") == "65534\n"
    bad = env.run("run", "--rm", "-u", "nosuchuser", "busybox", "true", check=False)
    assert bad.returncode != 0 and "nosuchuser" in bad.stderr
    # the --rm containers are gone, the others not
    assert env.out("ps", "-a", "-q") == ""


def test_stop_kill_start_keep_the_writable_layer(env: Env) -> None:
    env.run("run", "-d", "--name", "s", "busybox", "sh", "-c", "echo started; exec sleep 3600")
    env.run("exec", "s", "sh", "-c", "echo kept > /state")
    t0 = time.monotonic()
    env.run("stop", "-t", "1", "s")  # sleep as pid 1 ignores SIGTERM: SIGKILL after 1 s
    assert 0.9 < time.monotonic() - t0 < 10
    state = _state(env, "s")
    assert state["Status"] == "exited" and state["ExitCode"] == 137
    assert "Exited (137)" in env.out("ps", "-a", "--filter", "name=s")
    merged = json.loads(env.out("inspect", "s"))[0]["GraphDriver"]["Data"]["MergedDir"]
    with open("/proc/self/mountinfo") as f:
        assert merged not in f.read()  # unmounted when it stopped
    env.run("start", "s")
    assert env.out("exec", "s", "cat", "/state") == "kept\n"
    assert env.out("logs", "s") == "started\nstarted\n"
    env.run("kill", "-s", "TERM", "s")  # ignored by pid 1
    env.run("kill", "s")
    for _ in range(100):
        if _state(env, "s")["Status"] == "exited":
            break
        time.sleep(0.05)
    assert _state(env, "s")["ExitCode"] == 137
    running = env.run("exec", "s", "true", check=False)
    assert running.returncode != 0 and "not running" in running.stderr
    env.run("rm", "s")
    assert env.run("inspect", "s", check=False).returncode != 0


def test_rm_refuses_running_and_names_are_unique(env: Env) -> None:
    env.run("create", "--name", "c1", "busybox", "sleep", "3600")
    assert "Created" in env.out("ps", "-a")
    dup = env.run("create", "--name", "c1", "busybox", "true", check=False)
    assert dup.returncode != 0 and "already in use" in dup.stderr
    env.run("start", "c1")
    refused = env.run("rm", "c1", check=False)
    assert refused.returncode != 0 and "Stop the container" in refused.stderr
    busy = env.run("rmi", "busybox", check=False)
    assert busy.returncode != 0 and "used by container" in busy.stderr
    env.run("rm", "-f", "c1")
    assert env.out("ps", "-a", "-q") == ""


def test_exec_options_and_exit_status(env: Env) -> None:
    env.run("run", "-d", "--name", "x", "-e", "A=1", "busybox", "sleep", "3600")
    out = env.out(
        "exec", "-e", "B=2", "-w", "/tmp", "-u", "app", "x", "sh", "-c", 'echo "$A$B"; pwd; id -u'
    )
    assert out.splitlines() == ["12", "/tmp", "1000"]
    assert env.run("exec", "x", "sh", "-c", "exit 7", check=False).returncode == 7
    assert env.out("exec", "-i", "x", "cat") == ""
    proc = env.run("exec", "-i", "x", "cat", check=False, input="piped\n")
    assert proc.stdout == "piped\n"


def test_terminal_and_stdin(env: Env) -> None:
    env.run("run", "-d", "-t", "--name", "tt", "busybox", "sh")  # the pty keeps sh alive
    for _ in range(100):
        if "BusyBox" in env.out("logs", "tt"):  # sh's banner, through the pty
            break
        time.sleep(0.05)
    assert "BusyBox" in env.out("logs", "tt")
    assert _state(env, "tt")["Status"] == "running"
    env.run("rm", "-f", "tt")
    assert (
        env.run("run", "-i", "--rm", "busybox", "sh", input="echo from-stdin\n").stdout
        == "from-stdin\n"
    )
    no_tty = env.run("run", "-t", "--rm", "busybox", "true", check=False)
    assert no_tty.returncode != 0 and "not a TTY" in no_tty.stderr
    env.run("run", "-d", "-i", "--name", "di", "busybox", "cat")  # stdin held open: cat waits
    time.sleep(0.3)
    assert _state(env, "di")["Status"] == "running"
    env.run("rm", "-f", "di")
