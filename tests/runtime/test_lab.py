"""The seed's Lab Part 3 as written (layerfs for docker), and the database scenario."""

from __future__ import annotations

import json
import os
import re

from runtime.conftest import Env, requires_runtime

pytestmark = requires_runtime


def _size_column(ps_output: str) -> tuple[str, str]:
    line = ps_output.splitlines()[1]
    m = re.search(r"(\S+) \(virtual (\S+)\)$", line)
    assert m, line
    return m.group(1), m.group(2)


def test_lab_part3(env: Env) -> None:
    cid = env.out("run", "-d", "--name", "test-overlay", "busybox", "sleep", "3600").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    ps = env.out("ps", "-s", "--filter", "name=test-overlay")
    assert ps.splitlines()[0].split()[:3] == ["CONTAINER", "ID", "IMAGE"]
    assert ps.splitlines()[0].rstrip().endswith("SIZE")
    rw, virtual = _size_column(ps)
    assert rw == "0B"
    env.run("exec", "test-overlay", "sh", "-c", "dd if=/dev/zero of=/bigfile bs=1M count=50")
    rw, virtual2 = _size_column(env.out("ps", "-s", "--filter", "name=test-overlay"))
    assert rw == "52.4MB"  # 50 MiB, in docker's decimal units
    assert virtual2 != virtual
    assert env.out("diff", "test-overlay") == "A /bigfile\n"
    assert env.out("inspect", "test-overlay", "--format", "{{.Id}}").strip() == cid
    upper = env.out("inspect", "test-overlay", "--format", "{{.GraphDriver.Data.UpperDir}}").strip()
    assert upper.endswith(f"/containers/{cid}/upper")
    assert os.path.getsize(os.path.join(upper, "bigfile")) == 50 << 20
    data = env.out("inspect", "test-overlay", "--format", "{{json .GraphDriver.Data}}")
    for key in ("LowerDir", "MergedDir", "WorkDir"):
        assert key in data
    env.run("rm", "-f", "test-overlay")
    assert not os.path.exists(upper)
    assert env.out("ps", "-a", "-q") == ""
    assert "clean" in env.out("fsck")


def test_database_scenario_writable_layer_is_ephemeral_volume_is_not(env: Env) -> None:
    write = "mkdir -p /var/lib/db && echo customer-1 >> /var/lib/db/records"
    read = "cat /var/lib/db/records 2>/dev/null || echo EMPTY"
    # without a volume: the records live in the container's writable layer
    env.run("run", "--name", "db", "busybox", "sh", "-c", write)
    assert env.out("start", "db")  # a restart of the *same* container keeps its layer
    env.run("stop", "db")
    env.run("rm", "db")
    assert env.out("run", "--rm", "busybox", "sh", "-c", read) == "EMPTY\n"
    # with a named volume: the records survive rm + run
    env.run("run", "--rm", "-v", "dbdata:/var/lib/db", "busybox", "sh", "-c", write)
    assert (
        env.out("run", "--rm", "-v", "dbdata:/var/lib/db", "busybox", "sh", "-c", read)
        == "customer-1\n"
    )
    assert "dbdata" in env.out("volume", "ls")
    # with a host directory
    host = env.tmp / "hostdir"
    env.run("run", "--rm", "-v", f"{host}:/data", "busybox", "sh", "-c", "echo x > /data/f")
    assert (host / "f").read_text() == "x\n"
    ro = env.run(
        "run",
        "--rm",
        "-v",
        f"{host}:/data:ro",
        "busybox",
        "sh",
        "-c",
        "echo y > /data/f",
        check=False,
    )
    assert ro.returncode != 0 and (host / "f").read_text() == "x\n"


def test_image_volumes_are_seeded_from_the_image(env: Env) -> None:
    """An image's VOLUME gets an anonymous volume; an empty volume mounted over a
    directory of the image gets the image's files there (docker's copy-up)."""
    from layerfs.oci.container_config import ContainerConfig
    from layerfs.store.commit import commit_image

    upper = env.tmp / "layer"
    (upper / "data").mkdir(parents=True)
    (upper / "data" / "seed.txt").write_text("from the image\n")
    with env.store() as store:
        config = ContainerConfig(cmd=("sh",), volumes=("/data",))
        commit_image(store, str(upper), store.image("busybox"), ["withvol:1"], config=config)
    assert env.out("run", "--name", "a", "withvol:1", "cat", "/data/seed.txt") == "from the image\n"
    [mount] = json.loads(env.out("inspect", "a"))[0]["Mounts"]
    assert mount["Type"] == "volume" and mount["Destination"] == "/data"
    assert len(env.out("volume", "ls", "-q").split()) == 1
    out = env.out(
        "run", "--rm", "-v", "named:/data", "withvol:1", "sh", "-c", "echo more >> /data/seed.txt"
    )
    assert out == ""
    assert (
        env.out("run", "--rm", "-v", "named:/data", "busybox", "cat", "/data/seed.txt")
        == "from the image\nmore\n"
    )
    env.run("rm", "-v", "a")
    assert env.out("volume", "ls", "-q") == "named\n"
