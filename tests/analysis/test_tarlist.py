"""The fast tar lister against tarfile's own reading, on every header form."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest
from analysis_tars import listing, make_tar

from layerfs.analysis.tarlist import DIR, FILE, HARDLINK, OPAQUE, SYMLINK, WHITEOUT, list_tar
from layerfs.errors import InvalidLayer

LONG = "deep/" + "x" * 120 + "/" + "y" * 130


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_names_kinds_sizes_as_tarfile_reads_them(fmt: int) -> None:
    members = [("./etc", None), ("etc/passwd", b"root:x:0:0\n"), ("bin/sh", "sym", "busybox"),
               ("bin/busybox", b"\x7fELF" * 1000), ("bin/ash", "hard", "bin/busybox")]
    if fmt != tarfile.USTAR_FORMAT:
        members.append((LONG, b"z" * 513))
    else:
        members.append(("p" * 90 + "/" + "q" * 90, b"ustar prefix"))
    data = make_tar(members, fmt)
    got = list_tar(io.BytesIO(data))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        want = [("/" + m.name.strip("./").strip("/"), m.size if m.isreg() else 0)
                for m in tar.getmembers()]
    assert [(e.path, e.size) for e in got.entries] == want
    assert [e.kind for e in got.entries][:5] == [DIR, FILE, SYMLINK, FILE, HARDLINK]
    assert got.tar_size == len(data)
    assert got.content_size == sum(s for _, s in want)


def test_whiteouts_and_opaque_markers_name_what_they_hide() -> None:
    got = listing([("a/.wh.b", b""), ("c/.wh..wh..opq", b""), (".wh.top", b"")])
    assert [(e.path, e.kind) for e in got.entries] == [
        ("/a/b", WHITEOUT), ("/c", OPAQUE), ("/top", WHITEOUT)]


def test_content_gives_mode_owner_link_and_data_digest() -> None:
    got = listing([("f", b"data"), ("l", "sym", "f")], content=True)
    f, link = got.entries
    assert f.meta is not None and f.meta[4] == hashlib.sha256(b"data").hexdigest()
    assert link.meta is not None and link.meta[3] == "f"


def test_truncated_stream_is_refused() -> None:
    data = make_tar([("f", b"x" * 5000)])
    with pytest.raises(InvalidLayer):
        list_tar(io.BytesIO(data[:2048]))
