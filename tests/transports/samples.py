"""Sample images for the transport tests (also used by tests/interop)."""

from __future__ import annotations

import io
import tarfile

from store.helpers import MemoryImage


def tar_of(files: dict[str, bytes]) -> bytes:
    """A plain tar of regular files (mode 0644, mtime 0)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sample_image() -> MemoryImage:
    return MemoryImage(
        [tar_of({"etc/a": b"one\n"}), tar_of({"etc/b": b"two\n" * 1000})],
        created_by=["RUN one", "RUN two"],
    )
