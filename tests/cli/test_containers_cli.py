"""The container, volume and system commands' output formats (docker's), through the CLI."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the runtime fixtures
from runtime.conftest import Env, busybox_rootfs, env, requires_runtime  # noqa: F401

pytestmark = requires_runtime


def test_ps_formats_and_inspect_type(env: Env) -> None:  # noqa: F811
    cid = env.out("run", "-d", "--name", "web", "busybox", "sleep", "3600").strip()
    env.run("create", "--name", "idle", "busybox", "sh", "-c", "echo a very long command line here")
    assert env.out("ps", "-q") == cid[:12] + "\n"
    assert env.out("ps", "-a", "-q", "--no-trunc").split() == [
        json.loads(env.out("inspect", "idle"))[0]["Id"],
        cid,
    ]
    table = env.out("ps", "-a").splitlines()
    assert re.split(r"\s{3,}", table[0]) == [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    assert any('"sh -c echo a very l…"' in line and "Created" in line for line in table)
    assert env.out("ps", "--format", "{{.Names}} {{.State}}") == "web running\n"
    rows = json.loads(env.out("ps", "-a", "-s", "--json"))
    assert {r["Names"] for r in rows} == {"web", "idle"} and all(r["SizeRw"] == 0 for r in rows)
    assert env.out("container", "ls", "-q") == cid[:12] + "\n"
    assert "virtual" in env.out("ps", "--help") and "image" in env.out("ps", "--help")
    assert json.loads(env.out("inspect", "--type", "container", "web"))[0]["Name"] == "/web"
    assert env.run("inspect", "--type", "image", "web", check=False).returncode != 0
    assert json.loads(env.out("inspect", "busybox"))[0]["Id"].startswith("sha256:")
    assert (
        env.out("inspect", "-f", "{{.State.Running}} {{.Config.Cmd}}", "web")
        == "true [sleep 3600]\n"
    )


def test_logs_tail_and_follow(env: Env) -> None:  # noqa: F811
    script = (
        "for i in 1 2 3; do echo line$i; done; while [ ! -e /go ]; do sleep 0.1; done; echo last"
    )
    env.run("run", "-d", "--name", "talker", "busybox", "sh", "-c", script)
    for _ in range(100):
        if env.out("logs", "talker").count("\n") == 3:
            break
        time.sleep(0.05)
    assert env.out("logs", "--tail", "1", "talker") == "line3\n"
    env.run("exec", "talker", "touch", "/go")
    assert env.out("logs", "-f", "talker") == "line1\nline2\nline3\nlast\n"  # ends when it exits
    assert "Exited (0)" in env.out("ps", "-a")


def test_detached_rm_removes_itself(env: Env) -> None:  # noqa: F811
    env.run("run", "-d", "--rm", "--name", "brief", "busybox", "true")
    for _ in range(100):
        if env.out("ps", "-a", "-q") == "":
            break
        time.sleep(0.1)
    assert env.out("ps", "-a", "-q") == ""
    assert os.listdir(os.path.join(env.root, "containers")) == []


def test_volume_commands(env: Env) -> None:  # noqa: F811
    assert env.out("volume", "create", "data") == "data\n"
    anon = env.out("volume", "create").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", anon)
    assert env.out("volume", "ls").splitlines()[0].split() == ["DRIVER", "VOLUME", "NAME"]
    [obj] = json.loads(env.out("volume", "inspect", "data"))
    assert obj["Driver"] == "local" and obj["Mountpoint"].endswith("/volumes/data/_data")
    env.run("create", "--name", "user", "-v", "data:/d", "busybox", "true")
    refused = env.run("volume", "rm", "data", check=False)
    assert refused.returncode != 0 and "in use" in refused.stderr
    out = env.out("volume", "prune", "-f")
    assert anon in out and "data" not in out.replace(anon, "")
    env.run("rm", "user")
    assert env.out("volume", "rm", "data") == "data\n"
    assert env.out("volume", "ls", "-q") == ""
    env.run("run", "--rm", "-v", "/anon", "busybox", "true")
    assert len(env.out("volume", "ls", "-q").split()) == 1  # anonymous volume kept (no -v)
    env.run("run", "--name", "v", "-v", "/anon2", "busybox", "true")
    env.run("rm", "-v", "v")
    assert len(env.out("volume", "ls", "-q").split()) == 1  # rm -v removed its anonymous one


def test_system_df_table(env: Env) -> None:  # noqa: F811
    out = env.out("system", "df").splitlines()
    assert out[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [line.split("  ")[0] for line in out[1:]] == [
        "Images",
        "Containers",
        "Local Volumes",
        "Build Cache",
    ]
    assert "100%" in out[1]  # the image is unused
