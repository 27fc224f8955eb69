"""Helpers shared by the benchmarks in bench/ (not a test module, not part of the package).

A benchmark builds its fixtures under one scratch directory, runs every workload on every
target in the same run, takes the median of several rounds and prints one table of
medians and ratios. These helpers do the parts every benchmark needs: timing, dropping
the page cache, kernel overlay mounts that are always unmounted, fixture files, and the
table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

IS_ROOT = os.geteuid() == 0
MiB = 1 << 20
GiB = 1 << 30


# --------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class Sample:
    """The seconds each round of one workload took on one target (plus a per-op count)."""

    seconds: tuple[float, ...]
    ops: int = 1

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def per_op(self) -> float:
        """Median seconds per operation."""
        return self.median / self.ops


def measure(
    run: Callable[[], object],
    rounds: int,
    *,
    ops: int = 1,
    before: Callable[[], object] | None = None,
    after: Callable[[], object] | None = None,
) -> Sample:
    """Time `run` `rounds` times; `before`/`after` run untimed around each round."""
    seconds = []
    for _ in range(rounds):
        if before is not None:
            before()
        t0 = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - t0)
        if after is not None:
            after()
    return Sample(tuple(seconds), ops)


def drop_caches() -> bool:
    """Write back dirty pages and drop the page, dentry and inode caches.

    Returns False (and does nothing but sync) when not root: the caller then says that
    its "cold" figures are warm.
    """
    os.sync()
    if not IS_ROOT:
        return False
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")
    return True


# --------------------------------------------------------------------------- fixtures


def scratch_dir(parent: str | None = None, prefix: str = "layerfs-bench-") -> Path:
    """A new empty directory for one run (under `parent`, default /var/tmp: a real disk)."""
    base = parent or ("/var/tmp" if os.path.isdir("/var/tmp") else None)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def write_file(path: Path, size: int, chunk: int = 4 * MiB) -> None:
    """A file of `size` bytes of incompressible, non-sparse data, flushed to disk."""
    block = os.urandom(min(chunk, max(size, 1)))
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n
        f.flush()
        os.fsync(f.fileno())


def hardlink_tree(layers_top_first: Sequence[Path], dest: Path) -> None:
    """Materialise the union of plain layers (no whiteouts) as hard links under `dest`.

    The "native" target: the same inodes the overlay serves, in one ordinary directory.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for layer in reversed(layers_top_first):
        for root, dirs, files in os.walk(layer):
            rel = os.path.relpath(root, layer)
            for d in dirs:
                os.makedirs(dest / rel / d, exist_ok=True)
            for name in files:
                target = dest / rel / name
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
                os.link(os.path.join(root, name), target)


def reset_dir(path: Path) -> None:
    """Remove `path` and everything under it, then create it empty."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


# --------------------------------------------------------------------------- kernel overlay


def kernel_overlay_available() -> tuple[bool, str]:
    """Whether this process can mount a kernel overlay, and why not."""
    if not IS_ROOT:
        return False, "not root"
    if shutil.which("mount") is None:
        return False, "no mount(8)"
    with open("/proc/filesystems") as f:
        if not any(line.split()[-1:] == ["overlay"] for line in f):
            subprocess.run(["modprobe", "overlay"], capture_output=True)
    return True, ""


@contextlib.contextmanager
def kernel_overlay(
    lowers_top_first: Sequence[Path], upper: Path, work: Path, merged: Path
) -> Iterator[Path]:
    """Mount a kernel overlay for the duration of the block; always unmounted after."""
    merged.mkdir(parents=True, exist_ok=True)
    lowerdir = ":".join(str(p) for p in lowers_top_first)
    options = f"lowerdir={lowerdir},upperdir={upper},workdir={work}"
    subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(merged)],
        check=True,
        capture_output=True,
    )
    try:
        yield merged
    finally:
        if subprocess.run(["umount", str(merged)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(merged)], capture_output=True)


# --------------------------------------------------------------------------- options


def standard_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every benchmark takes: --quick, --rounds (>= 3), --dir, --json, --keep.

    Call `parse_standard(parser, argv)` to parse; add options of your own in between.
    """
    p = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small fixture, a smoke run")
    p.add_argument("--rounds", type=int, default=3, help="rounds per workload (median; >= 3)")
    p.add_argument("--dir", default=None, help="scratch parent dir (default /var/tmp)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--keep", action="store_true", help="keep the fixture directory")
    return p


def parse_standard(p: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse; refuse fewer than 3 rounds (figures are medians of >= 3 rounds)."""
    args = p.parse_args(argv)
    if args.rounds < 3:
        p.error("--rounds must be at least 3 (medians of >= 3 rounds)")
    return args


# --------------------------------------------------------------------------- output


@dataclass
class Table:
    """Rows of medians per target and the ratios of one target against the others."""

    targets: Sequence[str]
    subject: str  # the target whose ratios are printed, e.g. "layerfs"
    rows: list[dict[str, object]] = field(default_factory=list)

    def add(self, workload: str, unit: str, values: dict[str, float | None]) -> None:
        """One workload: `values` maps target → median in `unit` (None if not measured)."""
        self.rows.append({"workload": workload, "unit": unit, **values})

    def ratio(self, row: dict[str, object], against: str) -> float | None:
        mine, theirs = row.get(self.subject), row.get(against)
        if not isinstance(mine, float) or not isinstance(theirs, float) or theirs <= 0:
            return None
        return mine / theirs

    def render(self) -> str:
        others = [t for t in self.targets if t != self.subject]
        header = ["workload", "unit", *self.targets, *(f"{self.subject}/{t}" for t in others)]
        lines = []
        for row in self.rows:
            cells = [str(row["workload"]), str(row["unit"])]
            cells += [_fmt(row.get(t)) for t in self.targets]
            cells += [_fmt_ratio(self.ratio(row, t)) for t in others]
            lines.append(cells)
        widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(header)]
        out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
        out.append("  ".join("-" * w for w in widths))
        for cells in lines:
            first = [cells[0].ljust(widths[0]), cells[1].ljust(widths[1])]
            rest = [c.rjust(w) for c, w in zip(cells[2:], widths[2:], strict=True)]
            out.append("  ".join(first + rest))
        return "\n".join(out)

    def to_json(self) -> list[dict[str, object]]:
        others = [t for t in self.targets if t != self.subject]
        return [
            {**row, **{f"{self.subject}/{t}": self.ratio(row, t) for t in others}}
            for row in self.rows
        ]


def _fmt(value: object) -> str:
    if not isinstance(value, float):
        return "n/a"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def log(message: str) -> None:
    """Progress on stderr, so that stdout holds only the results."""
    print(message, file=sys.stderr, flush=True)
