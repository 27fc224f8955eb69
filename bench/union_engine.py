#!/usr/bin/env python3
"""Benchmark: the union engine (`layerfs.union.UnionView`) against a native directory and a
kernel overlay mount of the same layers, in one run.

    .venv/bin/python bench/union_engine.py            # full run (1 GiB file), as root
    .venv/bin/python bench/union_engine.py --quick    # small smoke run (seconds)

Fixtures (built under --dir, default /var/tmp, removed afterwards): two lower layers.
The bottom one holds DIRS×FILES small files, half of a wide directory and one big file;
the top one holds the other half of the wide directory, so that it is merged. "native"
is a hard-link farm of the merged tree (the same inodes, one plain directory).

Workloads (each the median of --rounds rounds, all three targets in the same run):
- lookup: lstat of every small file, and of as many missing names in the same dirs (warm);
- readdir: list the merged wide directory (d_type included; warm);
- read: every small file (warm); the big file cold (caches dropped) and warm;
- copy-up: open the big file for append, write one byte, close, with caches dropped
  first; the same followed by sync(2); and the same for many small files (warm).
  The kernel fsyncs every copy-up (unless `volatile`), so the "+ sync" rows compare
  equally durable work. "native" copy-up is the minimum any copy-up must do: copy the
  file with copy_file_range, fsync it, then append.

Ratios are layerfs time / other time: below 1 is faster. Target (issue 2): copy-up of a
1 GiB file ≤ 1.2× the kernel's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    GiB,
    MiB,
    Sample,
    Table,
    drop_caches,
    hardlink_tree,
    kernel_overlay,
    kernel_overlay_available,
    log,
    measure,
    parse_standard,
    reset_dir,
    scratch_dir,
    standard_parser,
    write_file,
)
from layerfs.union import UnionView

COPY_UP_TARGET = 1.2
APPEND = os.O_WRONLY | os.O_APPEND


@dataclass(frozen=True)
class Sizes:
    """How big the fixture is."""

    dirs: int
    files_per_dir: int
    small_size: int
    wide: int
    big: int
    copyup_small: int


FULL = Sizes(dirs=100, files_per_dir=100, small_size=4096, wide=10_000, big=GiB, copyup_small=2000)
QUICK = Sizes(dirs=4, files_per_dir=25, small_size=4096, wide=400, big=8 * MiB, copyup_small=40)


# --------------------------------------------------------------------------- fixture


@dataclass(frozen=True)
class Fixture:
    root: Path
    lowers: tuple[Path, ...]  # top first
    native: Path
    small: tuple[str, ...]  # union paths
    missing: tuple[str, ...]
    wide: str
    big: str


def build_fixture(root: Path, sizes: Sizes) -> Fixture:
    """Write the layers and the native hard-link farm under `root`."""
    bottom, top = root / "lower0", root / "lower1"
    small, missing = [], []
    payload = os.urandom(sizes.small_size)
    for d in range(sizes.dirs):
        (bottom / "small" / f"d{d:03}").mkdir(parents=True)
        for f in range(sizes.files_per_dir):
            rel = f"/small/d{d:03}/f{f:04}"
            (bottom / rel[1:]).write_bytes(payload)
            small.append(rel)
            missing.append(rel + ".missing")
    for layer, names in ((bottom, range(0, sizes.wide, 2)), (top, range(1, sizes.wide, 2))):
        (layer / "wide").mkdir(parents=True)
        for i in names:
            (layer / "wide" / f"w{i:05}").touch()
    write_file(bottom / "big.bin", sizes.big)
    hardlink_tree([top, bottom], root / "native")
    os.sync()
    return Fixture(
        root, (top, bottom), root / "native", tuple(small), tuple(missing), "/wide", "/big.bin"
    )


# --------------------------------------------------------------------------- targets


class Target:
    """One way to reach the merged tree. Paths are union paths ("/small/d000/f0000")."""

    name = ""

    def lstat(self, path: str) -> os.stat_result:
        raise NotImplementedError

    def scandir(self, path: str) -> int:
        raise NotImplementedError

    def open(self, path: str, flags: int = os.O_RDONLY) -> int:
        raise NotImplementedError

    def fresh(self) -> None:
        """Start again from an empty upper layer (untimed, between copy-up rounds)."""
        raise NotImplementedError

    def copy_of(self, path: str) -> str:
        """The real path where a copy-up of union path `path` puts the data."""
        raise NotImplementedError


class _PathTarget(Target):
    """A target reached through real paths under `self.root`."""

    root = ""

    def lstat(self, path: str) -> os.stat_result:
        return os.lstat(self.root + path)

    def scandir(self, path: str) -> int:
        with os.scandir(self.root + path) as it:
            return len([e.is_dir(follow_symlinks=False) for e in it])  # d_type, like readdir

    def open(self, path: str, flags: int = os.O_RDONLY) -> int:
        return os.open(self.root + path, flags)


class Native(_PathTarget):
    name = "native"

    def __init__(self, fx: Fixture) -> None:
        self.root = str(fx.native)
        self.copies = fx.root / "native-copies"
        reset_dir(self.copies)

    def open(self, path: str, flags: int = os.O_RDONLY) -> int:
        if not flags & (os.O_WRONLY | os.O_RDWR):
            return os.open(self.root + path, flags)
        # The least a copy-up does: copy in the kernel, fsync, then open the copy.
        dst = self.copy_of(path)
        src_fd = os.open(self.root + path, os.O_RDONLY)
        dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            left = os.fstat(src_fd).st_size
            while left > 0:
                n = os.copy_file_range(src_fd, dst_fd, min(left, 1 << 30))
                if n == 0:
                    break
                left -= n
            os.fsync(dst_fd)
        finally:
            os.close(src_fd)
            os.close(dst_fd)
        return os.open(dst, flags)

    def fresh(self) -> None:
        reset_dir(self.copies)

    def copy_of(self, path: str) -> str:
        return str(self.copies / path.strip("/").replace("/", "_"))


class Kernel(_PathTarget):
    name = "kernel"

    def __init__(self, fx: Fixture, stack: contextlib.ExitStack) -> None:
        self.fx, self.stack = fx, stack
        self.base = fx.root / "kernel"
        self.root = str(self.base / "merged")
        self._inner: contextlib.ExitStack | None = None
        self.fresh()
        stack.callback(self._unmount)

    def _unmount(self) -> None:
        if self._inner is not None:
            self._inner.close()
            self._inner = None

    def fresh(self) -> None:
        self._unmount()
        for sub in ("upper", "work"):
            reset_dir(self.base / sub)
        self._inner = contextlib.ExitStack()
        self._inner.enter_context(
            kernel_overlay(
                self.fx.lowers, self.base / "upper", self.base / "work", self.base / "merged"
            )
        )

    def copy_of(self, path: str) -> str:
        return str(self.base / "upper") + path


class Layerfs(Target):
    name = "layerfs"

    def __init__(self, fx: Fixture) -> None:
        self.fx = fx
        self.base = fx.root / "layerfs"
        self.fresh()

    def fresh(self) -> None:
        for sub in ("upper", "work"):
            reset_dir(self.base / sub)
        self.view = UnionView(
            [str(p) for p in self.fx.lowers], str(self.base / "upper"), str(self.base / "work")
        )

    def copy_of(self, path: str) -> str:
        return str(self.base / "upper") + path

    def lstat(self, path: str) -> os.stat_result:
        return self.view.lstat(path)

    def scandir(self, path: str) -> int:
        return len(self.view.readdir(path))

    def open(self, path: str, flags: int = os.O_RDONLY) -> int:
        return self.view.open(path, flags)


# --------------------------------------------------------------------------- workloads


def _lstat_all(t: Target, paths: tuple[str, ...]) -> None:
    for p in paths:
        try:  # noqa: SIM105  (suppress() would add its own cost to this timed loop)
            t.lstat(p)
        except FileNotFoundError:
            pass


def _read_all(t: Target, paths: tuple[str, ...], buf: bytearray) -> int:
    total = 0
    for p in paths:
        fd = t.open(p)
        try:
            while n := os.readv(fd, [buf]):
                total += n
        finally:
            os.close(fd)
    return total


def _append_byte(t: Target, paths: tuple[str, ...]) -> None:
    for p in paths:
        fd = t.open(p, APPEND)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)


def _check_copied(t: Target, fx: Fixture, paths: tuple[str, ...]) -> None:
    """Refuse a figure for work not done: each copy holds all the data plus the byte."""
    for p in paths:
        got = os.lstat(t.copy_of(p))
        want = os.lstat(f"{fx.native}{p}").st_size + 1
        if got.st_size != want or got.st_blocks * 512 < want - 1:
            raise RuntimeError(
                f"{t.name}: {p} was not copied up in full ({got.st_size} bytes,"
                f" {got.st_blocks * 512} allocated, expected {want})"
            )


def _append_then_sync(t: Target, paths: tuple[str, ...]) -> None:
    _append_byte(t, paths)
    os.sync()


def run(fx: Fixture, sizes: Sizes, targets: list[Target], rounds: int, cold: bool) -> Table:
    """Every workload on every target; returns the table of medians."""
    table = Table([t.name for t in targets], "layerfs")
    buf = bytearray(MiB)
    big = (fx.big,)
    copy_small = fx.small[: sizes.copyup_small]
    big_label = f"{sizes.big // MiB} MiB" if sizes.big < GiB else f"{sizes.big // GiB} GiB"
    cold_tag = "cold" if cold else "warm*"

    def dropped() -> None:
        if cold:
            drop_caches()

    def row(
        label: str,
        unit: str,
        scale: float,
        work: Callable[[Target], object],
        ops: int = 1,
        before: Callable[[Target], object] | None = None,
        after: Callable[[Target], object] | None = None,
    ) -> None:
        values: dict[str, float | None] = {}
        for t in targets:
            log(f"  {label}: {t.name}")
            if before is None:
                work(t)  # warm-up round, untimed
            sample: Sample = measure(
                lambda t=t: work(t),
                rounds,
                ops=ops,
                before=None if before is None else (lambda t=t: before(t)),
                after=None if after is None else (lambda t=t: after(t)),
            )
            values[t.name] = sample.per_op * scale
        table.add(label, unit, values)

    n_small = len(fx.small)
    row(f"lstat existing ({n_small})", "us/op", 1e6, lambda t: _lstat_all(t, fx.small), n_small)
    row(f"lstat missing ({n_small})", "us/op", 1e6, lambda t: _lstat_all(t, fx.missing), n_small)
    row(f"readdir merged ({sizes.wide} entries)", "ms", 1e3, lambda t: t.scandir(fx.wide))
    row(
        f"read small files ({n_small})",
        "us/file",
        1e6,
        lambda t: _read_all(t, fx.small, buf),
        n_small,
    )
    row(
        f"read {big_label} file ({cold_tag})",
        "s",
        1,
        lambda t: _read_all(t, big, buf),
        before=lambda t: dropped(),
    )
    row(f"read {big_label} file (warm)", "s", 1, lambda t: _read_all(t, big, buf))

    def fresh_cold(t: Target) -> None:
        t.fresh()
        dropped()

    row(
        f"copy-up {big_label} ({cold_tag})",
        "s",
        1,
        lambda t: _append_byte(t, big),
        before=fresh_cold,
        after=lambda t: _check_copied(t, fx, big),
    )
    row(
        f"copy-up {big_label} + sync ({cold_tag})",
        "s",
        1,
        lambda t: _append_then_sync(t, big),
        before=fresh_cold,
        after=lambda t: _check_copied(t, fx, big),
    )
    row(
        f"copy-up small files ({len(copy_small)})",
        "us/file",
        1e6,
        lambda t: _append_byte(t, copy_small),
        len(copy_small),
        before=lambda t: (t.fresh(), os.sync()),
        after=lambda t: (_check_copied(t, fx, copy_small), os.sync()),
    )
    row(
        f"copy-up small files + sync ({len(copy_small)})",
        "us/file",
        1e6,
        lambda t: _append_then_sync(t, copy_small),
        len(copy_small),
        before=lambda t: (t.fresh(), os.sync()),
        after=lambda t: _check_copied(t, fx, copy_small),
    )
    return table


def copy_up_verdict(table: Table, sizes: Sizes) -> list[str]:
    """One line per copy-up-of-the-big-file row: the ratio against the kernel and the target.

    The target is about a 1 GiB file: smaller runs (--quick) give the ratio only.
    """
    lines = []
    for r in table.rows:
        label = str(r["workload"])
        if label.startswith("copy-up") and "small" not in label:
            ratio = table.ratio(r, "kernel")
            if ratio is None:
                lines.append(f"{label}: no kernel figure")
            elif sizes.big < GiB:
                lines.append(f"{label}: layerfs/kernel = {ratio:.2f}x (target is for 1 GiB)")
            else:
                verdict = "meets" if ratio <= COPY_UP_TARGET else "MISSES"
                lines.append(
                    f"{label}: layerfs/kernel = {ratio:.2f}x ({verdict} the target"
                    f" <= {COPY_UP_TARGET}x)"
                )
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_standard(standard_parser(__doc__), argv)
    sizes = QUICK if args.quick else FULL
    kernel_ok, why = kernel_overlay_available()
    cold = not args.quick and os.geteuid() == 0
    root = scratch_dir(args.dir)
    try:
        log(f"fixture under {root} ({asdict(sizes)})")
        fx = build_fixture(root, sizes)
        with contextlib.ExitStack() as stack:
            targets: list[Target] = [Native(fx)]
            if kernel_ok:
                targets.append(Kernel(fx, stack))
            else:
                log(f"kernel overlay skipped: {why}")
            targets.append(Layerfs(fx))
            table = run(fx, sizes, targets, args.rounds, cold)
        _report(table, args, sizes, kernel_ok, why, cold)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def _report(
    table: Table, args: argparse.Namespace, sizes: Sizes, kernel_ok: bool, why: str, cold: bool
) -> None:
    if args.json:
        print(
            json.dumps(
                {
                    "quick": args.quick,
                    "rounds": args.rounds,
                    "sizes": asdict(sizes),
                    "kernel": kernel_ok or why,
                    "cold": cold,
                    "rows": table.to_json(),
                    "verdict": copy_up_verdict(table, sizes),
                },
                indent=2,
            )
        )
        return
    print(table.render())
    print()
    if not cold:
        print("* caches not dropped (--quick or not root): the 'cold' rows are warm.")
    for line in copy_up_verdict(table, sizes):
        print(line)


if __name__ == "__main__":
    sys.exit(main())
