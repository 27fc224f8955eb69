"""``overlay.origin`` values made comparable between two copies of the layers.

The kernel stores ``struct ovl_fb`` (fs/overlayfs/overlayfs.h):
``version(0) | magic(0xfb) | len | flags | type | uuid[16] | fid[]``, where type/fid are the
lower file system's export handle. On ext4 (and most local file systems) a handle of type
FILEID_INO32_GEN(_PARENT) starts with the 32-bit inode number, so the handle can be mapped
back to the lower object it names: "lowerdir[1]:/a/b". Two front ends agree when their
origins name the same layer path, whatever the inode numbers of their own copies.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .fsutil import walk
from .layers import Dirs

OVL_FB_MAGIC = 0xFB
_FB_HEADER = 5 + 16  # version, magic, len, flags, type, uuid
FILEID_INO32_GEN = 1
FILEID_INO32_GEN_PARENT = 2


def lower_inodes(lowerdirs: tuple[str, ...]) -> dict[int, str]:
    """32-bit inode number -> "lowerdir[i]:/path" of every object of the lower layers
    (the first path in walk order for hard links; copies are built identically)."""
    found: dict[int, str] = {}
    for i, lower in enumerate(lowerdirs):
        fd = os.open(lower, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            found.setdefault(os.fstat(fd).st_ino & 0xFFFFFFFF, f"lowerdir[{i}]:/")
            for path, _, _, st in walk(fd):
                found.setdefault(st.st_ino & 0xFFFFFFFF, f"lowerdir[{i}]:{path}")
        finally:
            os.close(fd)
    return found


def describe(value: bytes, inodes: dict[int, str]) -> str:
    """What an origin value points to, as a layer path when the handle can be read."""
    if not value:
        return "<null origin>"
    if len(value) < _FB_HEADER or value[1] != OVL_FB_MAGIC:
        return f"<not an ovl_fb: {value[:8]!r}>"
    fid = value[_FB_HEADER:]
    if value[4] in (FILEID_INO32_GEN, FILEID_INO32_GEN_PARENT) and len(fid) >= 4:
        ino = int.from_bytes(fid[:4], "little")
        return "origin " + inodes.get(ino, f"<inode {ino}: not in the lower layers>")
    return f"<handle type {value[4]}>"  # another file system: only presence is comparable


def resolver(dirs: Dirs) -> Callable[[bytes], str]:
    """`describe` bound to the inode map of one front end's copy (computed once)."""
    inodes = lower_inodes(dirs.lowerdirs)
    return lambda value: describe(value, inodes)
