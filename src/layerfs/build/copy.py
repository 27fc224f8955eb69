"""COPY and ADD: what lands where (a plan), its digest for the cache, and writing it
through a UnionView into the step's upper dir (no mount needed).

Docker's rules: a source directory's *contents* are copied; a file goes to
`dest/<name>` when `dest` ends in `/` or is an existing directory, else to `dest`;
several sources need a `dest` ending in `/`; a relative `dest` is under WORKDIR;
missing parent directories are created (0755, root); owners are 0:0 unless `--chown`
(or the source is another stage/image, whose owners are kept); `--chmod` replaces the
mode of every copied entry. ADD of a local tar (plain, gzip, bzip2, xz, zstd) extracts
it into `dest`.

The digest covers each entry's destination path, type, mode, owner and content (file
bytes, link target) - never mtimes - so touching a file keeps the cache.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from layerfs.archive.compress import HEAD_SIZE, decompressed, detect
from layerfs.build.context import Source, SourceTree, walk
from layerfs.errors import InvalidInput
from layerfs.union.view import UnionView

DIR, FILE, LINK, TAR = "dir", "file", "symlink", "tar"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class CopyItem:
    """One entry to write: `dest` absolute in the image; `source` the host path of the
    bytes (FILE, TAR) or the link target (LINK); `meta` False for a parent dir created
    only if missing (its metadata is then 0755 root, never changed when it exists)."""

    dest: str
    kind: str
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    source: str = ""
    meta: bool = True


@dataclass(frozen=True)
class CopyOptions:
    """--chown (resolved ids) and --chmod, and whether owners of the source are kept."""

    owner: tuple[int, int] | None = None
    chmod: int | None = None
    keep_owner: bool = False
    extract_tars: bool = False


def parse_chmod(text: str | None) -> int | None:
    if not text:
        return None
    try:
        value = int(text, 8)
    except ValueError:
        raise InvalidInput(f"invalid --chmod={text}: expected an octal mode") from None
    if value > 0o7777:
        raise InvalidInput(f"invalid --chmod={text}: mode out of range")
    return value


def is_tar(path: str) -> bool:
    """True for a file ADD would extract: a tar, possibly compressed."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_SIZE)
            if detect(head) != "none":
                f.seek(0)
                with decompressed(f) as inner:
                    block = inner.read(512)
            else:
                f.seek(0)
                block = f.read(512)
    except (OSError, InvalidInput, EOFError):
        return False
    if len(block) < 512:
        return False
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.TarError:
        return False
    return True


def _dest_for_file(dest: str, name: str, into_dir: bool) -> str:
    return os.path.join(dest, name) if into_dir else dest


def plan(
    tree: SourceTree,
    sources: Sequence[Source],
    dest: str,
    dest_is_dir: Callable[[str], bool],
    opts: CopyOptions,
    mtime_floor: int = 0,
) -> list[CopyItem]:
    """The entries a COPY/ADD writes, parents first; `dest` is absolute (may end in /).

    Directories the copy has to create (missing parents, the destination of a directory
    source) are 0755, owned by `--chown` (else root), dated `mtime_floor` (ns); `--chmod`
    applies to the copied entries only - as buildah does.
    """
    want_dir = dest.endswith("/") or dest in ("/", "/.")
    dest = os.path.normpath(dest)
    if len(sources) > 1 and not want_dir and not dest_is_dir(dest):
        raise InvalidInput(
            "When using COPY with more than one source file, the destination must be a"
            " directory and end with a /"
        )
    into_dir = want_dir or len(sources) > 1 or dest_is_dir(dest)
    items: list[CopyItem] = []
    for src in sources:
        st = tree.lstat(src.rel)
        assert st is not None
        if src.is_dir:
            items += _parents(dest, dest_is_dir, mtime_floor, opts, include_self=True)
            for rel, child_st in walk(tree, src.rel):
                inner = rel[len(src.rel) + 1 :] if src.rel else rel
                items.append(_item(tree, rel, os.path.join(dest, inner), child_st, opts))
            continue
        name = os.path.basename(src.rel)
        if opts.extract_tars and stat.S_ISREG(st.st_mode) and is_tar(tree.real(src.rel)):
            items += _parents(dest, dest_is_dir, mtime_floor, opts, include_self=True)
            items.append(CopyItem(dest, TAR, 0, 0, 0, 0, tree.real(src.rel)))
            continue
        target = _dest_for_file(dest, name, into_dir)
        items += _parents(os.path.dirname(target) if not into_dir else dest, dest_is_dir,
                          mtime_floor, opts, include_self=True)
        items.append(_item(tree, src.rel, target, st, opts))
    return _dedupe(items)


def _parents(path: str, dest_is_dir: Callable[[str], bool], mtime: int, opts: CopyOptions,
             include_self: bool = False) -> list[CopyItem]:
    out: list[CopyItem] = []
    uid, gid = opts.owner or (0, 0)
    current = path if include_self else os.path.dirname(path)
    while current not in ("/", "") and not dest_is_dir(current):
        out.append(CopyItem(current, DIR, 0o755, uid, gid, mtime, meta=False))
        current = os.path.dirname(current)
    return out[::-1]


def _item(tree: SourceTree, rel: str, dest: str, st: os.stat_result, opts: CopyOptions
          ) -> CopyItem:
    mode = stat.S_IMODE(st.st_mode) if opts.chmod is None else opts.chmod
    if opts.owner is not None:
        uid, gid = opts.owner
    elif opts.keep_owner:
        uid, gid = st.st_uid, st.st_gid
    else:
        uid, gid = 0, 0
    if stat.S_ISDIR(st.st_mode):
        return CopyItem(dest, DIR, mode, uid, gid, st.st_mtime_ns)
    if stat.S_ISLNK(st.st_mode):
        return CopyItem(dest, LINK, 0o777, uid, gid, st.st_mtime_ns, tree.readlink(rel))
    if stat.S_ISREG(st.st_mode):
        return CopyItem(dest, FILE, mode, uid, gid, st.st_mtime_ns, tree.real(rel))
    raise InvalidInput(f"{tree.label}: {rel}: cannot copy a device, fifo or socket")


def _dedupe(items: list[CopyItem]) -> list[CopyItem]:
    """Later items for the same destination win; created parents never override; a tar
    to extract into a directory is its own item (it does not replace the directory)."""
    seen: dict[tuple[str, str], CopyItem] = {}
    for it in items:
        key = (it.dest, it.source if it.kind == TAR else "")
        if key in seen and not it.meta:
            continue
        seen[key] = it
    return list(seen.values())


def file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def describe(items: Sequence[CopyItem]) -> dict[str, str]:
    """Per destination path: "kind mode uid:gid content" (what the cache key covers)."""
    out: dict[str, str] = {}
    for it in items:
        content = ""
        if it.kind in (FILE, TAR):
            content = file_digest(it.source)
        elif it.kind == LINK:
            content = it.source
        out[it.dest] = f"{it.kind} {it.mode:04o} {it.uid}:{it.gid} {content}".rstrip()
    return out


# ---------------------------------------------------------------------- writing


def apply(view: UnionView, items: Sequence[CopyItem],
          extract: Callable[[str], str] | None = None) -> None:
    """Write `items` through `view` (its upper dir receives them). Directory times are
    set last, deepest first, so writing children does not change them. `extract(tar)`
    unpacks an ADD tar into a host dir and returns it (TAR items).

    Below a directory this call created where no lower layer has it, nothing can be
    merged or hidden: entries there are written straight into the upper dir (the same
    result as through the view, without its lookups through every layer).
    """
    writer = _Writer(view)
    dirs: list[CopyItem] = []
    for it in items:
        if it.kind == DIR:
            writer.mkdir(it)
            if it.meta:
                dirs.append(it)
        elif it.kind == FILE:
            writer.file(it)
        elif it.kind == LINK:
            writer.symlink(it)
        elif it.kind == TAR:
            if extract is None:
                raise InvalidInput(f"ADD {it.source}: tar extraction not available")
            _apply_tree(view, extract(it.source), it.dest)
    for it in sorted(dirs, key=lambda i: i.dest.count("/"), reverse=True):
        writer.times(it)


class _Writer:
    def __init__(self, view: UnionView) -> None:
        self.view = view
        assert view.upperdir is not None
        self.upper = os.path.realpath(view.upperdir)
        self.fresh: set[str] = set()  # dirs made here that no lower layer has

    def _direct(self, path: str) -> str | None:
        """The upper-dir path of `path` when its parent is fresh, else None."""
        if os.path.dirname(path) in self.fresh:
            return self.upper + path
        return None

    def mkdir(self, it: CopyItem) -> None:
        real = self._direct(it.dest)
        if real is not None:
            os.mkdir(real, 0o700)
            os.lchown(real, it.uid, it.gid)
            os.chmod(real, it.mode)
            self.fresh.add(it.dest)
            return
        view = self.view
        try:
            st: os.stat_result | None = view.lstat(it.dest)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISDIR(st.st_mode):
            if stat.S_ISLNK(st.st_mode) and is_dir(view, it.dest):
                return  # a link to a directory: copy through it, as docker does
            view.unlink(it.dest)
            st = None
        if st is None:
            view.mkdir(it.dest, 0o755)
            # nothing showed at it.dest: no lower can add entries below the new dir (it
            # was absent, a non-dir now whited out, or an opaque dir); direct writes below
            # it are safe when it really sits at upper + it.dest (no symlink on the way)
            real = self.upper + it.dest
            if os.path.isdir(real) and os.path.realpath(real) == real:
                self.fresh.add(it.dest)
        if st is None or it.meta:
            view.chmod(it.dest, it.mode)
            view.chown(it.dest, it.uid, it.gid)

    def file(self, it: CopyItem) -> None:
        real = self._direct(it.dest)
        if real is not None:
            fd = os.open(real, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        else:
            _replace(self.view, it.dest)
            fd = self.view.open(it.dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with open(it.source, "rb") as src:
                while chunk := src.read(_CHUNK):
                    os.write(fd, chunk)
            os.fchown(fd, it.uid, it.gid)
            os.fchmod(fd, it.mode)  # after chown, which clears setuid bits
            os.utime(fd, ns=(it.mtime_ns, it.mtime_ns))
        finally:
            os.close(fd)

    def symlink(self, it: CopyItem) -> None:
        real = self._direct(it.dest)
        if real is not None:
            os.symlink(it.source, real)
            os.lchown(real, it.uid, it.gid)
            os.utime(real, ns=(it.mtime_ns, it.mtime_ns), follow_symlinks=False)
            return
        _replace(self.view, it.dest)
        self.view.symlink(it.source, it.dest)
        self.view.chown(it.dest, it.uid, it.gid)
        self.view.utimens(it.dest, ns=(it.mtime_ns, it.mtime_ns))

    def times(self, it: CopyItem) -> None:
        real = self._direct(it.dest) if it.dest not in self.fresh else self.upper + it.dest
        if real is not None:
            os.utime(real, ns=(it.mtime_ns, it.mtime_ns), follow_symlinks=False)
        else:
            self.view.utimens(it.dest, ns=(it.mtime_ns, it.mtime_ns))


def _apply_tree(view: UnionView, root: str, dest: str) -> None:
    from layerfs.build.context import ContextTree, Source

    tree = ContextTree(root)
    items = plan(tree, [Source(".", "", True)], dest + "/", lambda p: is_dir(view, p),
                 CopyOptions(keep_owner=True))
    apply(view, items)


def is_dir(view: UnionView, path: str) -> bool:
    try:
        return stat.S_ISDIR(view.stat(path).st_mode)
    except OSError:
        return False


def _replace(view: UnionView, path: str) -> None:
    try:
        st = view.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise InvalidInput(f"cannot replace directory {path} with a file")
    view.unlink(path)
