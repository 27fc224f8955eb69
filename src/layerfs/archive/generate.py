"""Generate deterministic layer tars from an upper dir (or a plain tree).

Output is a function of the tree alone: members in depth-first order with names
sorted bytewise in each directory, PAX format, numeric owners (uname/gname empty),
integer mtimes (clamped to SOURCE_DATE_EPOCH when given), no atime/ctime, xattrs as
``SCHILY.xattr.*`` records in sorted order, hard links as tar hard links to the first
name met, and the end of archive as two zero blocks (as Go's archive/tar writes).

In `write_tar` every whiteout form of the upper dir (kernel device, xattr whiteout, OCI
file) becomes an empty ``.wh.NAME`` member (mode 0); an opaque directory becomes its
entry followed immediately by ``DIR/.wh..wh..opq``. Overlay-private xattrs are left out
and escaped ones unescaped, all through `layerfs.union.whiteouts`.
"""

from __future__ import annotations

import os
import stat
import tarfile
from dataclasses import dataclass
from typing import BinaryIO

from layerfs.archive._io import BUFSIZE, HashingWriter
from layerfs.digest import Digest
from layerfs.errors import InvalidLayer, Unsupported
from layerfs.union import whiteouts as wh

_BLOCK = tarfile.BLOCKSIZE
_ZEROS = bytes(_BLOCK)
_REJECT_MARKERS = (wh.REDIRECT, "metacopy")


@dataclass(frozen=True)
class GenerateResult:
    """The tar written: its diff_id (sha256 of the bytes) and size in bytes."""

    diff_id: Digest
    size: int


def write_tar(upperdir: str, out: BinaryIO, *, source_date_epoch: int | None = None
              ) -> GenerateResult:
    """Write the layer tar of an overlay upper dir to `out` (not closed) and hash it.

    Deterministic: two runs over the same tree give the same bytes. Redirected or
    metacopy directories/files need their lower layers to be exported and raise
    Unsupported; a file changing size while read raises InvalidLayer.
    """
    return _Writer(out, source_date_epoch, union=True).run(upperdir)


def write_tree_tar(rootdir: str, out: BinaryIO, *, source_date_epoch: int | None = None
                   ) -> GenerateResult:
    """Write a plain directory tree (a rootfs: export/import) as a deterministic tar.

    Nothing is interpreted as a whiteout; overlay-private xattrs are still left out.
    """
    return _Writer(out, source_date_epoch, union=False).run(rootdir)


class _Writer:
    def __init__(self, out: BinaryIO, sde: int | None, *, union: bool) -> None:
        self.out = HashingWriter(out)
        self.sde = sde
        self.union = union
        self.links: dict[tuple[int, int], str] = {}
        self.buf = bytearray(BUFSIZE)

    def run(self, root: str) -> GenerateResult:
        if not os.path.isdir(root):
            raise InvalidLayer(f"{root}: not a directory")
        if self.union and wh.is_opaque(root):
            self._marker(wh.OCI_OPAQUE, os.lstat(root).st_mtime_ns)
        self._walk(root, "")
        self.out.write(_ZEROS * 2)
        self.out.flush()
        return GenerateResult(self.out.digest(), self.out.size)

    # ------------------------------------------------------------------ walking

    def _children(self, dirpath: str) -> list[tuple[bytes, str, str | None]]:
        """(sort key, tar basename, real name or None for a whiteout) of one directory."""
        items: list[tuple[bytes, str, str | None]] = []
        if not self.union:
            for name in os.listdir(dirpath):
                items.append((os.fsencode(name), name, name))
        else:
            layer = wh.scan_dir(dirpath)
            for name in layer.entries:
                items.append((os.fsencode(name), name, name))
            if not layer.opaque:
                for name in layer.whiteouts:
                    marker = wh.oci_whiteout_name(name)
                    items.append((os.fsencode(marker), marker, None))
        items.sort()
        return items

    def _walk(self, dirpath: str, prefix: str) -> None:
        for _key, tarname, real in self._children(dirpath):
            arcname = prefix + tarname
            if real is None:
                self._marker(arcname, self._whiteout_mtime(dirpath, tarname))
                continue
            path = os.path.join(dirpath, real)
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode):
                self._entry(path, arcname, st)
                if self.union and wh.is_opaque(path):
                    self._marker(f"{arcname}/{wh.OCI_OPAQUE}", st.st_mtime_ns)
                self._walk(path, arcname + "/")
            else:
                self._entry(path, arcname, st)

    def _whiteout_mtime(self, dirpath: str, marker: str) -> int:
        name = marker[len(wh.OCI_PREFIX) :]
        for candidate in (name, marker):
            try:
                return os.lstat(os.path.join(dirpath, candidate)).st_mtime_ns
            except FileNotFoundError:
                continue
        return os.lstat(dirpath).st_mtime_ns

    # ------------------------------------------------------------------ members

    def _mtime(self, ns: int) -> int:
        secs = ns // 1_000_000_000
        return secs if self.sde is None else min(secs, self.sde)

    def _marker(self, arcname: str, mtime_ns: int) -> None:
        info = tarfile.TarInfo(arcname)
        info.mode = 0
        info.mtime = self._mtime(mtime_ns)
        self._header(info)

    def _entry(self, path: str, arcname: str, st: os.stat_result) -> None:
        info = tarfile.TarInfo(arcname)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.mtime = self._mtime(st.st_mtime_ns)
        mode = st.st_mode
        if stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            first = self.links.get(key) if st.st_nlink > 1 else None
            if first is not None:
                info.type, info.linkname = tarfile.LNKTYPE, first
            else:
                if st.st_nlink > 1:
                    self.links[key] = arcname
                info.size = st.st_size
        elif stat.S_ISDIR(mode):
            info.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(mode):
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        else:
            return  # sockets cannot be archived (docker skips them too)
        info.pax_headers = self._xattrs(path, arcname)
        self._header(info)
        if info.type == tarfile.REGTYPE and info.size:
            self._data(path, arcname, info.size)

    def _xattrs(self, path: str, arcname: str) -> dict[str, str]:
        try:
            names = os.listxattr(path, follow_symlinks=False)
        except OSError:
            return {}
        out: dict[str, str] = {}
        for name in sorted(names):
            if self.union and any(name == p + k for p in wh.PREFIXES for k in _REJECT_MARKERS):
                raise Unsupported(f"{arcname}: has {name}; exporting it needs its lower layers")
            visible = wh.visible_xattr_name(name)
            if visible is None:
                continue
            value = os.getxattr(path, name, follow_symlinks=False)
            out[wh_key(visible)] = value.decode("utf-8", "surrogateescape")
        return out

    def _header(self, info: tarfile.TarInfo) -> None:
        self.out.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def _data(self, path: str, arcname: str, size: int) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            left = size
            view = memoryview(self.buf)
            while left:
                n = os.readv(fd, [view[: min(left, BUFSIZE)]])
                if n == 0:
                    raise InvalidLayer(f"{arcname}: file shrank while being archived")
                self.out.write(view[:n])
                left -= n
            if os.read(fd, 1):
                raise InvalidLayer(f"{arcname}: file grew while being archived")
        finally:
            os.close(fd)
        pad = -size % _BLOCK
        if pad:
            self.out.write(_ZEROS[:pad])


def wh_key(xattr: str) -> str:
    """The PAX record name that carries an xattr."""
    return "SCHILY.xattr." + xattr
