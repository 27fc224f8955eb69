"""Layer tars built in memory for the analysis unit tests."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Sequence

from layerfs.analysis.layers import LayerStep
from layerfs.analysis.tarlist import TarListing, list_tar
from layerfs.digest import Digest

# (name, data or None for a directory) or (name, "sym" or "hard", target)
Member = tuple[str, bytes | None] | tuple[str, str, str]


def make_tar(members: Sequence[Member], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for m in members:
            info = tarfile.TarInfo(m[0])
            if len(m) == 3:
                info.type = tarfile.SYMTYPE if m[1] == "sym" else tarfile.LNKTYPE
                info.linkname = m[2]  # type: ignore[misc]
                tar.addfile(info)
            elif m[1] is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                data = m[1]
                info.size = len(data)  # type: ignore[arg-type]
                tar.addfile(info, io.BytesIO(data))  # type: ignore[arg-type]
    return buf.getvalue()


def listing(members: Sequence[Member], *, content: bool = False) -> TarListing:
    return list_tar(io.BytesIO(make_tar(members)), content=content)


class FakeLayer:
    """Enough of `Layer` for analyze_listings (digests only)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def digest(self) -> Digest:
        return Digest.of_bytes(self.data)

    def diff_id(self) -> Digest:
        return Digest.of_bytes(self.data)


def steps(n: int) -> list[LayerStep]:
    return [LayerStep(i, FakeLayer(bytes([i])), f"RUN step {i}") for i in range(n)]  # type: ignore[arg-type]
