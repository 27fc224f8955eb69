"""Checks on overlay layers before a mount: what the kernel would refuse, said clearly.

`validate_layers(opts)` checks what the kernel checks before it writes anything: every
layer exists and is a directory, upperdir and workdir go together and sit on one
writable mount, neither is inside the other, no lowerdir is inside (or is) upperdir or
workdir or contains them, at most 500 lower layers, no NUL, no name over 255 bytes. It
raises a one-line `InvalidOption` naming the offending path. It only reads: nothing is
created or changed anywhere.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from layerfs.errors import InvalidOption
from layerfs.mounts.mntid import mount_id

if TYPE_CHECKING:
    from layerfs.mounts.options import OverlayOptions

MAX_LOWER = 500  # OVL_MAX_STACK: lower plus data-only layers
PATH_MAX = 4096  # including the terminating NUL


def validate_layers(opts: OverlayOptions) -> None:
    """Raise `InvalidOption` unless the kernel could mount these layers (reads only)."""
    _validate_shape(opts)
    for role, path in opts.layers():
        _check_directory(role, path)
    _validate_placement(opts)


def _validate_shape(opts: OverlayOptions) -> None:
    if not opts.lowerdirs:
        raise InvalidOption("lowerdir: missing (give lowerdir=DIR[:DIR...])")
    if (opts.upperdir is None) != (opts.workdir is None):
        missing = "workdir" if opts.workdir is None else "upperdir"
        raise InvalidOption(f"{missing}: missing (upperdir and workdir go together)")
    if opts.upperdir is None and len(opts.lowerdirs) < 2:
        raise InvalidOption("lowerdir: at least 2 layers are needed without an upperdir")
    total = len(opts.lowerdirs) + len(opts.datadirs)
    if total > MAX_LOWER:
        raise InvalidOption(f"lowerdir: too many lower directories ({total}), limit is 500")
    for role, path in opts.layers():
        if "\0" in path:
            raise InvalidOption(f"{role} {path!r}: path contains a NUL byte")
        if not path:
            raise InvalidOption(f"{role}: empty path")
        if len(os.fsencode(path)) >= PATH_MAX:
            raise InvalidOption(f"{role} {path[:40]}...: path longer than {PATH_MAX - 1} bytes")
        long = [c for c in path.split("/") if len(os.fsencode(c)) > 255]
        if long:
            raise InvalidOption(f"{role} {path}: a name is longer than 255 bytes")


def _check_directory(role: str, path: str) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InvalidOption(f"{role} {path}: no such directory") from None
    except NotADirectoryError:
        raise InvalidOption(f"{role} {path}: a parent is not a directory") from None
    except PermissionError:
        raise InvalidOption(f"{role} {path}: permission denied") from None
    except OSError as e:
        raise InvalidOption(f"{role} {path}: {e.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidOption(f"{role} {path}: not a directory ({_kind(st.st_mode)})")


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a fifo"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a directory"


def _ancestry(path: str) -> list[tuple[int, int]]:
    """(st_dev, st_ino) of the directory `path` resolves to and of all its ancestors."""
    real = os.path.realpath(path)
    out: list[tuple[int, int]] = []
    while True:
        st = os.stat(real)
        out.append((st.st_dev, st.st_ino))
        parent = os.path.dirname(real)
        if parent == real:
            return out
        real = parent


def _validate_placement(opts: OverlayOptions) -> None:
    """The kernel's placement checks: upperdir and workdir are on one writable mount,
    neither is inside the other, and no layer is inside (or is) upperdir or workdir, or
    contains them."""
    if opts.upperdir is None or opts.workdir is None:
        return
    upper, work = opts.upperdir, opts.workdir
    up_st, work_st = os.stat(upper), os.stat(work)
    if up_st.st_dev != work_st.st_dev or mount_id(upper) != mount_id(work):
        raise InvalidOption(
            f"workdir {work}: on another filesystem than upperdir {upper} (must be the same mount)"
        )
    if os.statvfs(upper).f_flag & os.ST_RDONLY:
        raise InvalidOption(f"upperdir {upper}: on a read-only mount")
    chains = {role_path: _ancestry(role_path[1]) for role_path in opts.layers()}
    writable = [("upperdir", upper), ("workdir", work)]
    for w_role, w_path in writable:
        w_id = chains[(w_role, w_path)][0]
        for role, path in chains:
            if (role, path) == (w_role, w_path):
                continue
            other = chains[(role, path)]
            if other[0] == w_id:
                raise InvalidOption(f"{role} {path}: is the same directory as {w_role} {w_path}")
            if w_id in other[1:]:
                raise InvalidOption(f"{role} {path}: is inside {w_role} {w_path}")
            if other[0] in chains[(w_role, w_path)][1:]:
                raise InvalidOption(f"{w_role} {w_path}: is inside {role} {path}")
