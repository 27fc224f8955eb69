"""Test helpers: build layer directories from a spec and mount them with the kernel.

`build(root, spec)` writes a layer: spec maps union paths to a str/bytes (file content),
`DIR`, `OPAQUE` (an opaque directory), `WHITEOUT`, `("symlink", target)` or
`("redirect", target)` (a directory with a redirect xattr). `overlay(...)` mounts with
`mount -t overlay` (root only) and always unmounts, lazily if it must.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from layerfs.union.whiteouts import WhiteoutFormat, make_opaque, make_whiteout, set_redirect

DIR = "<dir>"
OPAQUE = "<opaque>"
WHITEOUT = "<whiteout>"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="kernel overlay mounts need root")

Spec = Mapping[str, object]

# root writes the kernel's form; others the unprivileged one the kernel also reads
FORMAT = WhiteoutFormat.KERNEL if os.geteuid() == 0 else WhiteoutFormat.OCI


def build(root: Path, spec: Spec) -> Path:
    """Create `root` and the entries of `spec` (parents first). Returns `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for path in sorted(spec, key=lambda p: p.count("/")):
        value = spec[path]
        full = root / path.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        if value in (DIR, OPAQUE):
            full.mkdir(exist_ok=True)
            if value == OPAQUE:
                make_opaque(str(full), FORMAT)
        elif value == WHITEOUT:
            make_whiteout(str(full.parent), full.name, FORMAT)
        elif isinstance(value, tuple) and value[0] == "symlink":
            os.symlink(value[1], full)
        elif isinstance(value, tuple) and value[0] == "redirect":
            full.mkdir(exist_ok=True)
            set_redirect(str(full), value[1], FORMAT)
        elif isinstance(value, bytes):
            full.write_bytes(value)
        else:
            full.write_text(str(value))
    return root


def umount(target: str) -> None:
    """Unmount `target` until nothing is mounted there (lazy as a last resort)."""
    while os.path.ismount(target):
        if subprocess.run(["umount", target], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", target], check=True, capture_output=True)


@contextlib.contextmanager
def overlay(
    target: Path,
    lowers: Sequence[Path],
    upper: Path | None = None,
    work: Path | None = None,
    extra: str = "",
    cwd: Path | None = None,
) -> Iterator[Path]:
    """Mount an overlay of `lowers` (top first) [+ upper/work] on `target`; unmount after.

    Paths are passed as given (relative ones are resolved by mount(8) against `cwd`).
    """
    target.mkdir(parents=True, exist_ok=True)
    opts = "lowerdir=" + ":".join(str(p) for p in lowers)
    if upper is not None and work is not None:
        opts += f",upperdir={upper},workdir={work}"
    if extra:
        opts += "," + extra
    subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", opts, str(target)],
        check=True, capture_output=True, cwd=cwd,
    )
    try:
        yield target
    finally:
        umount(str(target))


def readonly_view(
    target: Path, layers: Sequence[Path], spare: Path, extra: str = ""
) -> contextlib.AbstractContextManager[Path]:
    """A read-only kernel view of `layers` (top first); `spare` (an empty dir) is added at
    the bottom because the kernel needs two lower layers without an upperdir."""
    spare.mkdir(parents=True, exist_ok=True)
    return overlay(target, [*layers, spare], extra=extra)
