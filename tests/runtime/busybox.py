"""A busybox root file system built at test time (Debian's busybox-static), docker-like:
/bin/busybox plus one symlink per applet, the usual top-level dirs and /etc files."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

BUSYBOX = "/bin/busybox"
DIRS = ("bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr", "var", "var/lib")
ETC = {
    "passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
    "app:x:1000:1000:app:/home/app:/bin/sh\n",
    "group": "root:x:0:\nnobody:x:65534:\napp:x:1000:\nwheel:x:10:app\n",
    "hosts": "127.0.0.1\tlocalhost\n",
    "hostname": "busybox\n",
    "resolv.conf": "",
}


def busybox_available() -> bool:
    return os.access(BUSYBOX, os.X_OK)


def make_busybox_rootfs(dest: Path) -> Path:
    """Create the tree under `dest` (which must not exist); returns `dest`."""
    dest.mkdir(parents=True)
    for d in DIRS:
        (dest / d).mkdir(parents=True, exist_ok=True)
    os.chmod(dest / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True)
    for applet in applets.stdout.split():
        link = dest / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    for name, text in ETC.items():
        (dest / "etc" / name).write_text(text)
    return dest
