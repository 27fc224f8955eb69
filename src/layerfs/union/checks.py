"""Validation of a union's directories, before anything is written.

The rules of the kernel's ``ovl_fill_super`` that make sense without a mount: every layer
exists and is a directory, upperdir and workdir come together, live on one file system and
are separate subtrees, and no layer lies inside the upperdir or contains it. Each failure
is one `InvalidOption` naming the offending path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from layerfs.errors import InvalidOption


def _check_name(role: str, path: str) -> str:
    if not isinstance(path, str | os.PathLike):
        raise InvalidOption(f"{role} must be a path, not {type(path).__name__}")
    p = os.fspath(path)
    if not p:
        raise InvalidOption(f"{role} is empty")
    if "\0" in p:
        shown = p.replace("\0", "\\0")
        raise InvalidOption(f"{role} {shown!r} contains a NUL byte")
    return p


def _check_dir(role: str, path: str) -> os.stat_result:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InvalidOption(f"{role} {path!r} does not exist") from None
    except NotADirectoryError:
        raise InvalidOption(f"{role} {path!r}: a component of the path is not a directory"
                            ) from None
    except OSError as e:
        raise InvalidOption(f"{role} {path!r}: {e.strerror}") from None
    if not os.path.isdir(path):
        raise InvalidOption(f"{role} {path!r} is not a directory")
    return st


def _inside(child: str, parent: str) -> bool:
    return child == parent or child.startswith(parent.rstrip("/") + "/")


def validate(
    lowerdirs: Sequence[str], upperdir: str | None, workdir: str | None
) -> tuple[list[str], str | None, str | None]:
    """Check the directories; returns them as plain strings. Raises `InvalidOption`."""
    if isinstance(lowerdirs, str | bytes):
        raise InvalidOption("lowerdirs must be a sequence of directories, not one string")
    lowers = [_check_name(f"lowerdir {i}", d) for i, d in enumerate(lowerdirs, start=1)]
    if not lowers:
        raise InvalidOption("at least one lowerdir is needed")
    if (upperdir is None) != (workdir is None):
        missing = "workdir" if workdir is None else "upperdir"
        raise InvalidOption(f"upperdir and workdir go together: {missing} is missing")
    for i, d in enumerate(lowers, start=1):
        _check_dir(f"lowerdir {i}", d)
    if upperdir is None or workdir is None:
        return lowers, None, None
    upper = _check_name("upperdir", upperdir)
    work = _check_name("workdir", workdir)
    ust = _check_dir("upperdir", upper)
    wst = _check_dir("workdir", work)
    if ust.st_dev != wst.st_dev:
        raise InvalidOption(f"workdir {work!r} is on another file system than upperdir {upper!r}")
    ureal, wreal = os.path.realpath(upper), os.path.realpath(work)
    if ureal == wreal:
        raise InvalidOption(f"upperdir and workdir are the same directory {upper!r}")
    if _inside(ureal, wreal) or _inside(wreal, ureal):
        raise InvalidOption(f"upperdir {upper!r} and workdir {work!r} must be separate subtrees")
    for i, d in enumerate(lowers, start=1):
        lreal = os.path.realpath(d)
        if _inside(ureal, lreal):
            raise InvalidOption(f"upperdir {upper!r} is inside lowerdir {i} {d!r}")
        if _inside(lreal, ureal):
            raise InvalidOption(f"lowerdir {i} {d!r} is inside upperdir {upper!r}")
    if os.statvfs(upper).f_flag & os.ST_RDONLY:
        raise InvalidOption(f"upperdir {upper!r} is on a read-only file system")
    return lowers, upper, work
