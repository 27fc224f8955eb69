"""Fixtures for build tests: a store with a busybox base image made at test time
(/bin/busybox from busybox-static plus its applet symlinks, imported as one layer)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from layerfs.store import Store, import_rootfs

BUSYBOX = "/bin/busybox"


def make_busybox_rootfs(root: Path) -> None:
    """A tiny alpine-like root: busybox, its applets as symlinks, /etc/passwd and group,
    empty /etc/hosts, hostname, resolv.conf and /dev /proc /sys /run (no mount stubs)."""
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root", "var/cache", "dev",
              "proc", "sys", "run"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    applets = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        link = root / applet
        if not link.exists() and applet != "bin/busybox":
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink("/bin/busybox", link)
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
    )
    (root / "etc/group").write_text("root:x:0:\napp:x:1000:\nstaff:x:50:\n")
    for name in ("hosts", "hostname", "resolv.conf"):  # as in alpine: no mount stubs needed
        (root / "etc" / name).write_text("")
    os.chmod(root / "tmp", 0o1777)


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("builds with RUN need root (mounts, runc)")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(str(tmp_path / "store")) as s:
        yield s


@pytest.fixture
def busybox(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    need_root()
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    rootfs = tmp_path / "busybox-rootfs"
    make_busybox_rootfs(rootfs)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    import_rootfs(store, str(rootfs), ["busybox:latest"])
    return "busybox:latest"
