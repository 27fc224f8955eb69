"""Build layer tars in memory for tests (every fixture is made at run time)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class M:
    """One member to write: name, type and the fields that matter; `data` for files."""

    name: str
    type: bytes = tarfile.REGTYPE
    data: bytes = b""
    mode: int = 0o644
    linkname: str = ""
    uid: int = 0
    gid: int = 0
    mtime: int = 1_600_000_000
    devmajor: int = 0
    devminor: int = 0
    pax: dict[str, str] = field(default_factory=dict)
    size: int | None = None  # lie about the size (hostile)


def d(name: str, mode: int = 0o755, **kw: object) -> M:
    return M(name, tarfile.DIRTYPE, mode=mode, **kw)  # type: ignore[arg-type]


def f(name: str, data: bytes = b"", mode: int = 0o644, **kw: object) -> M:
    return M(name, tarfile.REGTYPE, data=data, mode=mode, **kw)  # type: ignore[arg-type]


def sym(name: str, target: str) -> M:
    return M(name, tarfile.SYMTYPE, linkname=target, mode=0o777)


def hard(name: str, target: str) -> M:
    return M(name, tarfile.LNKTYPE, linkname=target)


def wh(name: str, mode: int = 0) -> M:
    """An OCI whiteout member (`name` is the full member name, `.wh.` included)."""
    return M(name, tarfile.REGTYPE, mode=mode)


def tar_bytes(members: Iterable[M], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.type = m.type
            info.mode = m.mode
            info.linkname = m.linkname
            info.uid, info.gid = m.uid, m.gid
            info.mtime = m.mtime
            info.devmajor, info.devminor = m.devmajor, m.devminor
            info.pax_headers = dict(m.pax)
            if m.type == tarfile.REGTYPE:
                info.size = len(m.data)
                tf.addfile(info, io.BytesIO(m.data))
            else:
                tf.addfile(info)
    data = buf.getvalue()
    return data


def raw_header(name: bytes, size: int, typeflag: bytes = b"0", linkname: bytes = b"") -> bytes:
    """A hand-made ustar header (for names tarfile would refuse to write)."""
    h = bytearray(512)
    h[0 : len(name)] = name[:100]
    h[100:108] = b"0000644\x00"
    h[108:116] = b"0000000\x00"
    h[116:124] = b"0000000\x00"
    h[124:136] = f"{size:011o}\x00".encode()
    h[136:148] = b"00000000000\x00"
    h[156:157] = typeflag
    h[157 : 157 + len(linkname)] = linkname[:100]
    h[257:263] = b"ustar\x00"
    h[263:265] = b"00"
    h[148:156] = b" " * 8
    h[148:156] = f"{sum(h):06o}\x00 ".encode()
    return bytes(h)


def snapshot(root: str) -> dict[str, tuple]:
    """A comparable description of a tree: type, mode, owner, content, link, xattrs."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            try:
                xattrs = {x: os.getxattr(path, x, follow_symlinks=False)
                          for x in os.listxattr(path, follow_symlinks=False)}
            except OSError:
                xattrs = {}
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as fh:
                    extra: object = fh.read()
            elif stat.S_ISLNK(st.st_mode):
                extra = os.readlink(path)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                extra = st.st_rdev
            else:
                extra = None
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                        st.st_gid, extra, tuple(sorted(xattrs.items())))
    return out
