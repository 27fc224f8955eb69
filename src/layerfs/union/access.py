"""The VFS checks that bind even root, which a union engine must make itself.

The kernel makes these in fs/namei.c before the file system sees the call; a library
over plain directories would skip them, so `UnionView` asks here. Only what root is
subject to is modelled (permission bits are not: the view acts with the caller's own
rights on the real files).
"""

from __future__ import annotations

import os
import stat


def _sysctl(name: str) -> int:
    try:
        with open(f"/proc/sys/fs/{name}", "rb") as f:
            return int(f.read().strip() or b"0")
    except (OSError, ValueError):
        return 0


def sticky_create_denied(dir_st: os.stat_result, obj_st: os.stat_result) -> bool:
    """``may_create_in_sticky``: open(O_CREAT) of an existing object is refused (EACCES).

    In a sticky directory, an object owned neither by the caller nor by the directory's
    owner may not be opened with O_CREAT when the directory is world-writable (group-
    writable too for fs.protected_*=2); regular files and FIFOs only when
    fs.protected_regular / fs.protected_fifos ask for it, every other kind always.
    """
    if not dir_st.st_mode & stat.S_ISVTX:
        return False
    mode = obj_st.st_mode
    regular, fifo = stat.S_ISREG(mode), stat.S_ISFIFO(mode)
    level = _sysctl("protected_regular") if regular else _sysctl("protected_fifos") if fifo \
        else 2
    if (regular or fifo) and level == 0:
        return False
    if obj_st.st_uid in (dir_st.st_uid, os.geteuid()):
        return False
    if dir_st.st_mode & stat.S_IWOTH:
        return True
    return bool(dir_st.st_mode & stat.S_IWGRP) and (regular or fifo) and level >= 2
