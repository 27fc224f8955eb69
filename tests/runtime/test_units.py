"""Pure parts of the runtime: volume specs, users, paths inside a root, the spec."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest

from layerfs.errors import InvalidInput
from layerfs.runtime.containers import Container, RunConfig, State, VolumeMount
from layerfs.runtime.filesystem import is_hidden
from layerfs.runtime.runc import signal_number
from layerfs.runtime.spec import build_spec, read_in_root, resolve_in_root, resolve_user
from layerfs.runtime.volumes import parse_volume


def test_parse_volume_forms() -> None:
    assert parse_volume("/host/d:/data") == VolumeMount("bind", "/host/d", "/data", False)
    assert parse_volume("/host/d:/data:ro") == VolumeMount("bind", "/host/d", "/data", True)
    assert parse_volume("db:/var/lib/db") == VolumeMount("volume", "", "/var/lib/db", False, "db")
    assert parse_volume("/anon") == VolumeMount("volume", "", "/anon", False, "")
    for bad in ("db:relative", "a:/b:/c:ro", "db:/x:bogus", "bad name:/x", "x:/"):
        with pytest.raises(InvalidInput):
            parse_volume(bad)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/h:/bin/sh\n")
    (tmp_path / "etc/group").write_text("root:x:0:\napp:x:1000:\nwheel:x:10:app\nstaff:x:50:app\n")
    return tmp_path


def test_resolve_user(root: Path) -> None:
    assert resolve_user(str(root), "") == (0, 0, ())
    assert resolve_user(str(root), "app") == (1000, 1000, (10, 50))
    assert resolve_user(str(root), "1000") == (1000, 1000, (10, 50))
    assert resolve_user(str(root), "app:wheel") == (1000, 10, (50,))
    assert resolve_user(str(root), "4242:7") == (4242, 7, ())
    with pytest.raises(InvalidInput, match="nobody"):
        resolve_user(str(root), "nobody")
    with pytest.raises(InvalidInput, match="nogroup"):
        resolve_user(str(root), "app:nogroup")


def test_paths_never_leave_the_root(root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside") / "secret"
    outside.write_text("host secret\n")
    (root / "etc/passwd").unlink()
    (root / "etc/passwd").symlink_to(str(outside))  # absolute: resolved inside the root
    assert read_in_root(str(root), "/etc/passwd") is None
    (root / "up").symlink_to("../../../../../../" + str(outside).lstrip("/"))
    assert read_in_root(str(root), "/up") is None
    (root / "loop").symlink_to("loop")
    with pytest.raises(OSError):
        resolve_in_root(str(root), "/loop/x")
    (root / "etc/real").write_text("inside\n")
    (root / "etc/link").symlink_to("/etc/real")
    assert read_in_root(str(root), "/etc/link") == b"inside\n"
    assert resolve_in_root(str(root), "/etc/../etc/link") == str(root / "etc/real")
    assert resolve_in_root(str(root), "/missing/dir") == str(root / "missing/dir")


def _container(**config: object) -> Container:
    cfg = RunConfig(args=("sh",), **config)  # type: ignore[arg-type]
    return Container("ab" * 32, "n", "sha256:" + "0" * 64, "img", 0.0, cfg, State())


def test_spec(root: Path) -> None:
    spec = build_spec(_container(tty=True, env=("A=1",)), "/bundle", str(root))
    assert spec["root"]["path"] == str(root) and spec["hostname"] == "ab" * 6
    kinds = [n["type"] for n in spec["linux"]["namespaces"]]
    assert kinds == ["pid", "ipc", "uts", "mount", "network"]
    dests = [m["destination"] for m in spec["mounts"]]
    for needed in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/sys", "/etc/hosts"):
        assert needed in dests
    [nofile] = spec["process"]["rlimits"]
    assert nofile["hard"] <= resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert "TERM=xterm" in spec["process"]["env"] and "A=1" in spec["process"]["env"]
    host = build_spec(_container(network="host", user="app"), "/bundle", str(root))
    assert "network" not in [n["type"] for n in host["linux"]["namespaces"]]
    assert host["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [10, 50]}
    vol = VolumeMount("bind", "/h", "/d", True)
    [bind] = [
        m
        for m in build_spec(_container(mounts=(vol,)), "/b", str(root))["mounts"]
        if m["destination"] == "/d"
    ]
    assert bind["source"] == "/h" and "ro" in bind["options"]


def test_small_helpers() -> None:
    assert signal_number("TERM") == signal_number("SIGTERM") == signal_number("15") == 15
    with pytest.raises(ValueError):
        signal_number("NOPE")
    assert is_hidden("/etc/hosts") and is_hidden("/proc/1") and not is_hidden("/etc/hostsx")
    assert os.sep == "/"
