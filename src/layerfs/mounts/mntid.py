"""Mount identity of a path, without parsing mountinfo.

`mount_id(path)` is the kernel's mount id of the mount a path resolves into (the
`mnt_id` line of /proc/self/fdinfo for an O_PATH descriptor: no statx needed). Two
paths on one filesystem can still sit on two mounts (bind mounts), which the kernel
treats as different for upperdir/workdir.
"""

from __future__ import annotations

import os


def mount_id(path: str, *, follow: bool = True) -> int:
    """The mount id `path` lives on. Raises OSError if `path` cannot be opened with O_PATH."""
    flags = os.O_PATH | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        with open(f"/proc/self/fdinfo/{fd}", encoding="ascii") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key == "mnt_id":
                    return int(value)
    finally:
        os.close(fd)
    raise OSError(f"no mnt_id for {path} in /proc/self/fdinfo")
