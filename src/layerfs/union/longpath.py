"""Real paths longer than PATH_MAX: reach them through a directory fd.

A union path may be up to 4095 bytes; the real path of the same object (layer root +
union path) can be longer than the kernel accepts in one syscall. `shorten` turns such a
path into ``/proc/self/fd/N/<rest>`` where N is an ``O_PATH`` fd of one of its ancestor
directories, so every path-based call (lstat, open, mkdir, rename, xattrs, ...) works
unchanged. Short paths (the usual case) are returned as they are, at the cost of one
``len``.

Anchor fds are kept in a small table keyed by the directory path and re-validated
(stat of the path against fstat of the fd) every time they are handed out, so a renamed
or replaced directory is never reached through a stale fd.
"""

from __future__ import annotations

import os
import threading

_LIMIT = 3800  # bytes: a shortened path plus one more name (<= 255) stays under 4096
_STEP = 2048  # anchors are cut at multiples of this, so few distinct anchors are needed
_CAPACITY = 1024
_anchors: dict[str, int] = {}
_lock = threading.Lock()


def shorten(path: str) -> str:
    """`path`, or an equivalent ``/proc/self/fd/N/...`` path under the length limit."""
    if len(path) < _LIMIT // 4:
        return path
    raw = os.fsencode(path)
    if len(raw) < _LIMIT:
        return path
    cut = raw.rfind(b"/", 1, ((len(raw) - 1) // _STEP) * _STEP + 1)
    if cut <= 0:
        return path  # one huge component: let the syscall say ENAMETOOLONG
    fd = _anchor(os.fsdecode(raw[:cut]))
    return f"/proc/self/fd/{fd}/{os.fsdecode(raw[cut + 1 :])}"


def _anchor(prefix: str) -> int:
    """An O_PATH fd of the directory `prefix` (checked to be the one there now)."""
    reach = shorten(prefix)
    st = os.stat(reach)
    with _lock:
        fd = _anchors.get(prefix)
        if fd is not None:
            fst = os.fstat(fd)
            if (fst.st_dev, fst.st_ino) == (st.st_dev, st.st_ino):
                return fd
            del _anchors[prefix]
            os.close(fd)
        fd = os.open(reach, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        if len(_anchors) >= _CAPACITY:
            oldest = next(iter(_anchors))
            os.close(_anchors.pop(oldest))
        _anchors[prefix] = fd
        return fd
