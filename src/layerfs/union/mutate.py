"""Writes through the union: create, mkdir, symlink, mknod, link, unlink, rmdir, attributes.

Every function takes the `Engine` of a view and a union path, and changes only the
upperdir (and temporary objects in ``workdir/work``), copying up first where the kernel
does (fs/overlayfs/dir.c, inode.c, xattrs.c). Errors are `OSError`s with the kernel's
errno, raised before anything is written unless said otherwise.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

from layerfs.errors import oserror
from layerfs.union.copyup import copy_up_object, set_impure
from layerfs.union.engine import Engine, has_lower, in_upper
from layerfs.union.layerstack import Resolution, Step
from layerfs.union.longpath import shorten
from layerfs.union.readdir import is_empty
from layerfs.union.whiteouts import (
    ORIGIN,
    EntryKind,
    clear_opaque,
    clear_whiteouts,
    make_opaque,
    make_whiteout,
    overlay_xattr,
    remove_whiteout,
    stored_xattr_name,
)

_DOTS = ("", ".", "..")


def ensure_upper(eng: Engine, res: Resolution, *, with_data: bool = True) -> str:
    """Copy up every component of `res` that is not in the upperdir; its upper path.

    Idempotent. `with_data=False` copies the final regular file up empty (O_TRUNC).
    """
    cur = eng.require_upper(res.path)
    workdir = eng.workdir
    assert workdir is not None
    last = len(res.steps) - 1
    for k, step in enumerate(res.steps[1:], start=1):
        dest = shorten(os.path.join(cur, step.name))
        if not in_upper(step):
            top = step.sources[0]
            st = top.entry.st if top.entry.st is not None else os.lstat(top.realpath)
            data = next((p.realpath for p in step.sources if p.outcome == "data"), None)
            is_dir = top.entry.kind is EntryKind.DIR
            with eng.cache.changing() if is_dir else contextlib.nullcontext():
                copy_up_object(
                    top.realpath, st, cur, step.name, workdir, eng.fmt,
                    data_src=data, with_data=with_data or k != last,
                )
        cur = dest
    return cur


def copy_up(eng: Engine, path: str) -> str:
    """Copy `path` (not following a final symlink) and its parents up; the upper path."""
    res = eng.find(path)
    eng.require_upper(path)
    return ensure_upper(eng, res)


# --------------------------------------------------------------------------- creation


def prepare_create(
    eng: Engine, path: str, known: tuple[Resolution, str] | None = None
) -> tuple[str, str, Resolution, bool]:
    """Make room for a new name: ``(upper parent dir, name, parent, had_whiteout)``.

    EEXIST if the name exists, EROFS without an upperdir; then the parent is copied up
    and an upper whiteout at the name is removed (the kernel replaces it atomically with
    the new object; a crash here leaves the name visible as absent either way). `known`
    passes ``(parent, name)`` already resolved in this write, the name found absent.
    """
    if known is None:
        parent, name = eng.parent_of(path)
        if name in _DOTS or eng.child(parent, name).found:
            raise oserror(errno.EEXIST, path)
    else:
        parent, name = known
    eng.require_upper(path)
    udir = ensure_upper(eng, parent)
    had_whiteout = remove_whiteout(udir, name)
    return udir, name, parent, had_whiteout


@contextlib.contextmanager
def creating(
    eng: Engine, path: str, known: tuple[Resolution, str] | None = None
) -> Iterator[tuple[str, Resolution, bool]]:
    """`prepare_create`, then yield ``(upper real path, parent, had_whiteout)``.

    If the body fails and leaves nothing at the name, a removed whiteout is put back, so
    a failed creation never uncovers the lower object it hid.
    """
    udir, name, parent, had_whiteout = prepare_create(eng, path, known)
    real = os.path.join(udir, name)
    try:
        yield real, parent, had_whiteout
    except BaseException:
        if had_whiteout and not os.path.lexists(real):
            make_whiteout(udir, name, eng.fmt)
        raise


def create_fd(
    eng: Engine, path: str, flags: int, mode: int, known: tuple[Resolution, str] | None = None
) -> int:
    """Create a new regular file (O_CREAT on a missing name) and open it with `flags`.

    `known`: as for `prepare_create`.
    """
    with creating(eng, path, known) as (real, _parent, _wh):
        return os.open(real, flags | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)


def mkdir(eng: Engine, path: str, mode: int) -> None:
    """mkdir; over an upper whiteout the new directory is opaque (kernel behaviour).

    With redirect_dir on, a new directory in a merged parent is made opaque too (the
    kernel does so whenever offline changes to lower layers are not allowed).
    """
    with creating(eng, path) as (real, parent, had_whiteout):
        os.mkdir(real, mode)
        if had_whiteout or (eng.redirect_dir and has_lower(parent.final)):
            try:
                make_opaque(real, eng.fmt)
            except BaseException:
                clear_opaque(real)
                os.rmdir(real)
                raise


def symlink(eng: Engine, target: str, path: str) -> None:
    """symlink; over a whiteout the whiteout is simply replaced (fuse-overlayfs#279)."""
    if "\0" in target:
        raise oserror(errno.EINVAL, path)
    with creating(eng, path) as (real, _parent, _wh):
        os.symlink(target, real)


def mknod(eng: Engine, path: str, mode: int, device: int) -> None:
    """mknod of a fifo, socket, device or regular file (mode type bits as mknod(2))."""
    with creating(eng, path) as (real, _parent, _wh):
        os.mknod(real, mode, device)


def link(eng: Engine, existing: str, new: str) -> None:
    """Hard link: the existing object is copied up first (index=off: no shared inode).

    Linking an object that has a copy-up origin marks the new parent impure (kernel).
    """
    old = eng.find(existing)  # linkat(2) looks `existing` up completely first
    parent, name = eng.parent_of(new)
    if name in _DOTS or eng.child(parent, name).found:
        raise oserror(errno.EEXIST, new)
    if old.final.is_dir:
        raise oserror(errno.EPERM, existing)
    eng.require_upper(new)
    src = ensure_upper(eng, old)
    with creating(eng, new) as (real, _parent, _wh):
        if overlay_xattr(src, ORIGIN) is not None:  # as ovl_create_or_link for an origin
            set_impure(os.path.dirname(real), eng.fmt)
        os.link(src, real, follow_symlinks=False)


# --------------------------------------------------------------------------- removal


def _removal(eng: Engine, path: str) -> tuple[Resolution, str, Step]:
    eng.require_upper(path)
    parent, name = eng.parent_of(path)
    if name == "":
        raise oserror(errno.EBUSY, path)
    if name in _DOTS:
        raise oserror(errno.EINVAL if name == "." else errno.ENOTEMPTY, path)
    child = eng.child(parent, name)
    if not child.found:
        raise oserror(errno.ENOENT, path)
    return parent, name, child


def unlink(eng: Engine, path: str) -> None:
    """Remove a non-directory; a whiteout replaces it where a lower layer has the name."""
    parent, name, child = _removal(eng, path)
    if child.is_dir:
        raise oserror(errno.EISDIR, path)
    symlink = child.sources[0].entry.kind is EntryKind.SYMLINK  # cached paths may cross it
    with eng.cache.changing() if symlink else contextlib.nullcontext():
        _remove(eng, parent, name, child)


def rmdir(eng: Engine, path: str) -> None:
    """Remove an empty (merged) directory; ENOTEMPTY if the union shows a name in it.

    The upper copy's whiteouts are removed with it; a whiteout is left where a lower
    layer has the name.
    """
    parent, name, child = _removal(eng, path)
    if not child.is_dir:
        raise oserror(errno.ENOTDIR, path)
    if not is_empty(child):
        raise oserror(errno.ENOTEMPTY, path)
    _remove(eng, parent, name, child)


def _remove(eng: Engine, parent: Resolution, name: str, child: Step) -> None:
    upper = in_upper(child)
    positive = eng.lower_positive(parent.final, name) if upper else True
    udir = ensure_upper(eng, parent)
    real = os.path.join(udir, name)
    if upper:
        if child.is_dir:
            clear_whiteouts(real)
            clear_opaque(real)
            os.rmdir(real)
        else:
            os.unlink(real)
    if positive:
        make_whiteout(udir, name, eng.fmt)


# --------------------------------------------------------------------------- attributes


def _attr_target(eng: Engine, path: str) -> Resolution:
    res = eng.find(path)
    eng.require_upper(path)
    return res


def chmod(eng: Engine, path: str, mode: int) -> None:
    """chmod without following a final symlink (EOPNOTSUPP on a symlink, as fchmodat2)."""
    res = eng.find(path)
    if res.final.sources[0].entry.kind is EntryKind.SYMLINK:
        raise oserror(errno.EOPNOTSUPP, path)
    eng.require_upper(path)
    os.chmod(ensure_upper(eng, res), mode)


def chown(eng: Engine, path: str, uid: int, gid: int) -> None:
    """lchown (-1 keeps a value)."""
    real = ensure_upper(eng, _attr_target(eng, path))
    os.chown(real, uid, gid, follow_symlinks=False)


def utimens(eng: Engine, path: str, ns: tuple[int, int] | None) -> None:
    """Set atime/mtime in nanoseconds (None: now), not following a final symlink."""
    real = ensure_upper(eng, _attr_target(eng, path))
    if ns is None:
        os.utime(real, follow_symlinks=False)
    else:
        os.utime(real, ns=ns, follow_symlinks=False)


def truncate(eng: Engine, path: str, length: int) -> None:
    """truncate a regular file (copied up with its data first, as the kernel does).

    A final symlink is followed inside the union, as truncate(2) does.
    """
    res = eng.find(path, follow=True)
    kind = res.final.sources[0].entry.kind
    if kind is EntryKind.DIR:
        raise oserror(errno.EISDIR, path)
    if kind is not EntryKind.FILE or length < 0:
        raise oserror(errno.EINVAL, path)
    eng.require_upper(path)
    os.truncate(ensure_upper(eng, res), length)


def _xattr_allowed(res: Resolution, name: str, path: str) -> None:
    kind = res.final.sources[0].entry.kind
    if name.startswith("user.") and kind not in (EntryKind.FILE, EntryKind.DIR):
        raise oserror(errno.EPERM, path)


def setxattr(eng: Engine, path: str, name: str, value: bytes, flags: int = 0) -> None:
    """Set an xattr (overlay names are escaped as the kernel does: ``*.overlay.overlay.X``)."""
    res = _attr_target(eng, path)
    _xattr_allowed(res, name, path)
    real = ensure_upper(eng, res)
    os.setxattr(real, stored_xattr_name(name), value, flags, follow_symlinks=False)


def removexattr(eng: Engine, path: str, name: str) -> None:
    """Remove an xattr; ENODATA (and no copy-up) when the object does not have it."""
    res = _attr_target(eng, path)
    _xattr_allowed(res, name, path)
    stored = stored_xattr_name(name)
    if not in_upper(res.final):
        os.getxattr(res.final.sources[0].realpath, stored, follow_symlinks=False)
    os.removexattr(ensure_upper(eng, res), stored, follow_symlinks=False)
