"""The listing of one layer tar: every member's path, kind and size, file data skipped.

Analysis needs names and sizes only, so this reads tar headers directly (ustar, GNU
long names, PAX `path`/`linkpath`/`size` records) instead of `tarfile`, which builds a
`TarInfo` per member and is several times slower on layers of many small files. The
stream is read to its end (so a verifying `Layer.uncompressed()` stream checks the
diff_id); data blocks are read into one reused buffer.

OCI whiteout names (`.wh.NAME`, `.wh..wh..opq`) become `WHITEOUT` / `OPAQUE` entries
naming the deleted path / the opaque directory (`union.whiteouts.parse_oci_name`).
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass
from typing import BinaryIO

from layerfs.errors import InvalidLayer
from layerfs.union.whiteouts import parse_oci_name

FILE, DIR, SYMLINK, HARDLINK, OTHER, WHITEOUT, OPAQUE = (
    "file", "dir", "symlink", "hardlink", "other", "whiteout", "opaque",
)
_BLOCK = 512
_SKIP_BUF = 1 << 20
_KINDS = {b"0": FILE, b"\0": FILE, b"7": FILE, b"5": DIR, b"2": SYMLINK, b"1": HARDLINK}


@dataclass(frozen=True, slots=True)
class TarEntry:
    """One member: `path` absolute-style ("/etc/passwd"); `size` the data bytes in the tar
    (0 for directories, links, whiteouts); `kind` one of the module constants."""

    path: str
    kind: str
    size: int
    meta: tuple[int, int, int, str, str] | None = None  # mode, uid, gid, link, sha256




@dataclass(frozen=True)
class TarListing:
    """All members of one layer tar, in tar order, and the tar's byte count."""

    entries: tuple[TarEntry, ...]
    tar_size: int

    @property
    def content_size(self) -> int:
        """The sum of member data sizes (what dive calls a layer's size)."""
        return sum(e.size for e in self.entries)


def _number(field: bytes, what: str) -> int:
    if field[:1] and field[0] & 0x80:  # base-256 (GNU) for values that overflow octal
        value = int.from_bytes(field[1:], "big")
        return -value if field[0] & 0x40 else value
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise InvalidLayer(f"tar header: bad {what} field {field!r}") from None


def _pax(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            raise InvalidLayer("tar PAX header: bad record length") from None
        if length <= 0:
            raise InvalidLayer("tar PAX header: bad record length")
        record = data[space + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        out[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


class _Reader:
    def __init__(self, stream: BinaryIO) -> None:
        self._s = stream
        self._buf = bytearray(_SKIP_BUF)
        self.offset = 0
        self._seekable = stream.seekable()
        if self._seekable:  # the size bounds every seek (a truncated member is an error)
            start = stream.tell()
            self._end = stream.seek(0, 2) - start
            stream.seek(start)

    def block(self) -> bytes:
        data = self._s.read(_BLOCK)
        if len(data) < _BLOCK:
            if not data:
                return b""
            raise InvalidLayer("tar stream truncated inside a header")
        self.offset += _BLOCK
        return data

    def data(self, size: int) -> bytes:
        padded = -(-size // _BLOCK) * _BLOCK
        data = self._s.read(padded)
        if len(data) < padded:
            raise InvalidLayer("tar stream truncated inside a member")
        self.offset += padded
        return data[:size]

    def skip(self, size: int) -> None:
        left = -(-size // _BLOCK) * _BLOCK
        if self._seekable and left:
            want = self.offset + left
            if want > self._end:
                raise InvalidLayer("tar stream truncated inside a member")
            self._s.seek(left, 1)
            self.offset = want
            return
        view = memoryview(self._buf)
        while left:
            n = self._s.readinto(view[: min(left, _SKIP_BUF)])  # type: ignore[attr-defined]
            if not n:
                raise InvalidLayer("tar stream truncated inside a member")
            left -= n
        self.offset += -(-size // _BLOCK) * _BLOCK

    def hash(self, size: int) -> str:
        """sha256 (hex) of the next `size` data bytes (padding skipped)."""
        h = hashlib.sha256()
        left = size
        view = memoryview(self._buf)
        while left:
            n = self._s.readinto(view[: min(left, _SKIP_BUF)])  # type: ignore[attr-defined]
            if not n:
                raise InvalidLayer("tar stream truncated inside a member")
            h.update(view[:n])
            left -= n
        pad = -size % _BLOCK
        if pad and len(self._s.read(pad)) < pad:
            raise InvalidLayer("tar stream truncated inside a member")
        self.offset += size + pad
        return h.hexdigest()

    def drain(self) -> None:
        if self._seekable:
            self.offset = self._end
            return
        while n := self._s.readinto(self._buf):  # type: ignore[attr-defined]
            self.offset += n


def _path(name: str) -> str:
    if name.startswith(".") or "/." in name or "//" in name or name.endswith("/"):
        clean = posixpath.normpath("/" + name)
        return "/" if clean == "//" else clean
    return "/" + name


def list_tar(stream: BinaryIO, *, content: bool = False) -> TarListing:
    """The members of the uncompressed tar `stream`, read to its end (caller closes it).

    With `content`, each entry's `meta` holds its mode, uid, gid, link target and the
    sha256 of its data (files are then hashed, not skipped): enough to tell whether two
    entries of a path differ.

    Raises InvalidLayer on a malformed header or a truncated stream; digest errors of a
    verifying stream propagate.
    """
    r = _Reader(stream)
    entries: list[TarEntry] = []
    long_name: str | None = None
    long_link: str | None = None
    pax: dict[str, str] = {}
    while True:
        h = r.block()
        if not h or h == bytes(_BLOCK):
            break
        size = _number(h[124:136], "size")
        flag = h[156:157]
        if flag in (b"L", b"K"):
            text = _text(r.data(size))
            if flag == b"L":
                long_name = text
            else:
                long_link = text
            continue
        if flag in (b"x", b"g"):
            records = _pax(r.data(size))
            if flag == b"x":
                pax = records
            continue
        name = long_name if long_name is not None else pax.get("path") or _name(h)
        if "size" in pax:
            size = int(pax["size"])
        kind = _KINDS.get(flag, OTHER)
        meta = _meta(h, pax, long_link, r.hash(size) if kind == FILE else "") if content else None
        if meta is None or kind != FILE:
            r.skip(size)
        long_name, long_link, pax = None, None, {}
        entries.append(_entry(name, kind, size if kind == FILE else 0, meta))
    r.drain()
    return TarListing(tuple(entries), r.offset)


def _name(h: bytes) -> str:
    name = _text(h[0:100])
    if h[257:262] == b"ustar" and h[345:346] != b"\0":
        name = _text(h[345:500]) + "/" + name
    return name


def _meta(h: bytes, pax: dict[str, str], long_link: str | None, sha: str
          ) -> tuple[int, int, int, str, str]:
    link = pax.get("linkpath") or (long_link if long_link is not None else _text(h[157:257]))
    uid = int(pax["uid"]) if "uid" in pax else _number(h[108:116], "uid")
    gid = int(pax["gid"]) if "gid" in pax else _number(h[116:124], "gid")
    return (_number(h[100:108], "mode") & 0o7777, uid, gid, link, sha)


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _entry(name: str, kind: str, size: int, meta: tuple[int, int, int, str, str] | None
           ) -> TarEntry:
    path = _path(name)
    if ".wh." not in path:
        return TarEntry(path, kind, size, meta)
    base = posixpath.basename(path)
    if base.startswith(".wh."):
        what, target = parse_oci_name(base)
        parent = posixpath.dirname(path)
        if what == "opaque":
            return TarEntry(parent, OPAQUE, 0)
        return TarEntry(posixpath.join(parent, target or ""), WHITEOUT, 0)
    return TarEntry(path, kind, size, meta)
