"""rename(2) through the union, following the kernel's ``ovl_rename`` (fs/overlayfs/dir.c).

- VFS checks first: ENOENT, EINVAL (a directory into its own subtree), ENOTEMPTY (onto an
  ancestor), EISDIR / ENOTDIR (file onto directory / directory onto non-directory),
  renaming onto the same object does nothing.
- A directory with anything in a lower layer (lower-only or merged) moves only with
  redirect_dir: EXDEV otherwise. An upper-only directory always moves.
- A merged or lower directory target must look empty in the union (ENOTEMPTY); its upper
  whiteouts go. An upper-only one is refused by rename(2) itself (ENOTEMPTY), after the
  copy-up and redirect of the source, as in the kernel.
- The source is copied up (a directory alone, not its tree), the new parent too.
- Moving an object with a copy-up origin into another directory marks that directory
  ``impure``. A lower/merged directory gets ``overlay.redirect``: its old name when the
  parent stays, else its absolute union path (ancestors' redirects applied); an existing
  redirect is kept when it is absolute or the parent stays. An upper-only directory moved
  into a merged parent becomes opaque.
- A whiteout is left at the old name where a lower layer has it.
"""

from __future__ import annotations

import errno
import os
import posixpath

from layerfs.errors import oserror
from layerfs.union.copyup import set_impure
from layerfs.union.engine import Engine, has_lower, in_upper
from layerfs.union.layerstack import Step
from layerfs.union.longpath import shorten
from layerfs.union.mutate import ensure_upper
from layerfs.union.readdir import is_empty
from layerfs.union.whiteouts import (
    ORIGIN,
    EntryKind,
    classify,
    clear_opaque,
    clear_whiteouts,
    is_opaque,
    make_opaque,
    make_whiteout,
    overlay_xattr,
    redirect_of,
    remove_whiteout,
    set_redirect,
)

REDIRECT_MAX = 256  # the kernel's redirect_max module parameter (default)


def rename(eng: Engine, old: str, new: str) -> None:
    """Rename `old` to `new` (replacing `new` if allowed). See the module docstring."""
    eng.require_upper(old)
    oparent, oname = eng.parent_of(old)
    nparent, nname = eng.parent_of(new)
    if oname in ("", ".", "..") or nname in ("", ".", ".."):
        raise oserror(errno.EBUSY, old if oname in ("", ".", "..") else new)
    ostep = eng.child(oparent, oname)
    if not ostep.found:
        raise oserror(errno.ENOENT, old)
    nstep = eng.child(nparent, nname)
    old_path = posixpath.join(oparent.path, oname)
    new_path = posixpath.join(nparent.path, nname)
    if old_path == new_path:
        return
    if new_path.startswith(old_path + "/"):
        raise oserror(errno.EINVAL, new)
    is_dir = ostep.is_dir
    if nstep.found:
        _check_target(ostep, nstep, old_path, new_path, new)
        if _same_object(ostep, nstep):
            return
    lower_dir = is_dir and has_lower(ostep)
    if lower_dir and not eng.redirect_dir:
        raise oserror(errno.EXDEV, old)
    # the kernel checks emptiness only for a merged or lower target (ovl_type_merge_or_lower);
    # an upper-only one is left to the real rename, after the copy-up and the redirect
    merged_target = nstep.found and nstep.is_dir and has_lower(nstep)
    if merged_target and not is_empty(nstep):
        raise oserror(errno.ENOTEMPTY, new)
    samedir = oparent.path == nparent.path
    positive = eng.lower_positive(oparent.final, oname) if in_upper(ostep) else True

    src = ensure_upper(eng, eng.find(old_path))
    new_parent = eng.find_dir(nparent.path)
    ndir = ensure_upper(eng, new_parent)
    odir = os.path.dirname(src)
    if not samedir and _has_origin(src, is_dir, lower_dir):
        set_impure(ndir, eng.fmt)
    if lower_dir:
        value = _redirect_value(eng, old_path, src, samedir)
        if value is not None:
            set_redirect(src, value, eng.fmt)
    elif is_dir and not is_opaque(src) and has_lower(new_parent.final):
        make_opaque(src, eng.fmt)
    dest = os.path.join(ndir, nname)
    empty_target = merged_target or (nstep.found and nstep.is_dir and is_empty(nstep))
    _clear_target(ndir, nname, dest, empty_target)
    os.rename(src, dest)
    if positive:
        make_whiteout(odir, oname, eng.fmt)


def _check_target(ostep: Step, nstep: Step, old_path: str, new_path: str, new: str) -> None:
    if old_path.startswith(new_path + "/"):
        raise oserror(errno.ENOTEMPTY, new)
    if ostep.is_dir and not nstep.is_dir:
        raise oserror(errno.ENOTDIR, new)
    if not ostep.is_dir and nstep.is_dir:
        raise oserror(errno.EISDIR, new)


def _same_object(a: Step, b: Step) -> bool:
    """One overlay inode under two names: renaming one onto the other does nothing.

    With index=off only upper hard links share an overlay inode; two names of one lower
    inode are two overlay inodes (the rename copies up and whites out).
    """
    if not (in_upper(a) and in_upper(b)):
        return False
    sa, sb = a.sources[0].entry.st, b.sources[0].entry.st
    return sa is not None and sb is not None and (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _has_origin(src: str, is_dir: bool, lower_dir: bool) -> bool:
    """The kernel's ``ovl_type_origin``: a merged directory, or a copy-up with an origin."""
    if is_dir:
        return lower_dir
    return overlay_xattr(src, ORIGIN) is not None


def _clear_target(ndir: str, nname: str, dest: str, empty: bool) -> None:
    """Make ``ndir/nname`` replaceable by rename(2): no whiteout, an empty directory.

    A target directory the union does not show as `empty` (only an upper-only one gets
    here) is left as it is, for rename(2) itself to refuse.
    """
    kind = classify(ndir, nname).kind
    if kind is EntryKind.WHITEOUT:
        remove_whiteout(ndir, nname)
    elif kind is EntryKind.DIR:
        if not empty:
            return
        clear_whiteouts(dest)
        clear_opaque(dest)
    else:
        remove_whiteout(ndir, nname)  # an OCI ``.wh.NAME`` next to nothing


def _redirect_value(eng: Engine, old_path: str, src: str, samedir: bool) -> str | None:
    """What ``ovl_set_redirect`` writes for `src` (at `old_path`), None to keep the old one."""
    existing = redirect_of(src)
    if existing is not None and (samedir or existing.startswith("/")):
        return None
    parts = [c for c in old_path.split("/") if c]
    if samedir:
        return parts[-1]
    upper = eng.upperdir
    assert upper is not None
    out: list[str] = []
    for i in range(len(parts), 0, -1):
        here = redirect_of(shorten(upper + "/" + "/".join(parts[:i])))
        out.insert(0, here if here is not None else parts[i - 1])
        if here is not None and here.startswith("/"):
            break
    value = "/".join(out)
    if not value.startswith("/"):
        value = "/" + value
    if len(os.fsencode(value)) > REDIRECT_MAX:
        raise oserror(errno.EXDEV, old_path)
    return value
