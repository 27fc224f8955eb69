"""Fixtures for the container tests: a busybox image in a fresh store per test, and a
`layerfs` runner bound to that store. Containers left running are removed at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from layerfs.store.rootfs import import_rootfs
from layerfs.store.store import Store
from runtime.busybox import busybox_available, make_busybox_rootfs

LAYERFS = str(Path(sys.executable).with_name("layerfs"))


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "containers need root (mounts, namespaces)"
    if shutil.which("runc") is None:
        return "runc is not installed"
    if not busybox_available():
        return "busybox-static is not installed"
    return None


requires_runtime = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not busybox_available():
        pytest.skip("busybox-static is not installed")
    return make_busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


@dataclass
class Env:
    """A store with `busybox:latest` and a way to run `layerfs` on it."""

    root: str
    tmp: Path

    def run(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "LAYERFS_ROOT": self.root, **(env or {})}
        proc = subprocess.run(
            [LAYERFS, *args], capture_output=True, text=True, input=input, env=full_env, timeout=120
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"layerfs {' '.join(args)}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def out(self, *args: str) -> str:
        return self.run(*args).stdout

    def store(self) -> Store:
        return Store.open(self.root)


def _cleanup(root: str) -> None:
    from layerfs.runtime import lifecycle
    from layerfs.runtime.containers import list_containers

    with Store.open(root) as store:
        for c in list_containers(store):
            with contextlib.suppress(Exception):
                lifecycle.remove(store, c.id, force=True)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f if f" {root}/" in line]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


@pytest.fixture
def env(tmp_path: Path, busybox_rootfs: Path) -> Iterator[Env]:
    missing = _missing()
    if missing:
        pytest.skip(missing)
    root = str(tmp_path / "store")
    with Store.open(root) as store:
        import_rootfs(store, str(busybox_rootfs), ["busybox:latest"])
    try:
        yield Env(root, tmp_path)
    finally:
        _cleanup(root)
