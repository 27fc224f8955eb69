"""commit CONTAINER IMAGE, export CONTAINER, diff rules, through the CLI."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

from runtime.conftest import Env, requires_runtime

pytestmark = requires_runtime


def test_diff_rules_commit_and_run_the_new_image(env: Env) -> None:
    env.run("run", "-d", "--name", "w", "busybox", "sleep", "3600")
    script = (
        "echo new > /tmp/new; rm /etc/passwd; mkdir -p /opt/a/b; echo x > /opt/a/b/f; rm -rf /home"
    )
    env.run("exec", "w", "sh", "-c", script)
    assert env.out("diff", "w").splitlines() == [
        "C /etc",
        "D /etc/passwd",
        "D /home",
        "A /opt",
        "A /opt/a",
        "A /opt/a/b",
        "A /opt/a/b/f",
        "C /tmp",
        "A /tmp/new",
    ]
    image_id = env.out("commit", "-m", "snapshot", "w", "mybox:v1").strip()
    assert image_id.startswith("sha256:")
    history = json.loads(env.out("history", "--json", "--no-trunc", "mybox:v1"))
    assert history[0]["comment"] == "snapshot" and len(history) == 2
    out = env.out(
        "run", "--rm", "mybox:v1", "sh", "-c", "cat /tmp/new; ls /etc; ls /home 2>&1 || true"
    )
    assert out.startswith("new\n") and "passwd" not in out and "group" in out
    # the runtime's files are not in the committed layer
    layers = json.loads(env.out("inspect", "mybox:v1"))[0]["GraphDriver"]["Data"]["UpperDir"]
    tar = subprocess.run(["tar", "-C", layers, "-c", "."], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        names = tf.getnames()
    assert "./etc/hostname" not in names and "./tmp/new" in names
    env.run("rmi", "mybox:v1")
    env.run("rm", "-f", "w")
    assert "clean" in env.out("fsck")


def test_export_container(env: Env) -> None:
    env.run("run", "--name", "e", "busybox", "sh", "-c", "echo hi > /root/hello; rm /bin/vi")
    tar_path = env.tmp / "e.tar"
    env.run("export", "e", "-o", str(tar_path))
    with tarfile.open(tar_path) as tf:
        names = set(tf.getnames())
        assert tf.extractfile("root/hello").read() == b"hi\n"  # type: ignore[union-attr]
    assert "bin/busybox" in names and "bin/vi" not in names and "bin/sh" in names
    assert not any(".wh." in n for n in names)
