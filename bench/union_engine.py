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
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    GiB,
    MiB,
    Sample,
    Table,
    drop_caches,
    kernel_overlay_available,
    log,
    measure,
    parse_standard,
    scratch_dir,
    standard_parser,
)
from _union_targets import (
    FULL,
    QUICK,
    Fixture,
    Kernel,
    Layerfs,
    Native,
    Sizes,
    Target,
    build_fixture,
)

COPY_UP_TARGET = 1.2
APPEND = os.O_WRONLY | os.O_APPEND


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

    for tag, work in (("", _append_byte), (" + sync", _append_then_sync)):
        row(
            f"copy-up {big_label}{tag} ({cold_tag})",
            "s",
            1,
            lambda t, work=work: work(t, big),
            before=fresh_cold,
            after=lambda t: _check_copied(t, fx, big),
        )
    for tag, work in (("", _append_byte), (" + sync", _append_then_sync)):
        row(
            f"copy-up small files{tag} ({len(copy_small)})",
            "us/file",
            1e6,
            lambda t, work=work: work(t, copy_small),
            len(copy_small),
            before=lambda t: (t.fresh(), os.sync()),
            after=lambda t: (_check_copied(t, fx, copy_small), os.sync()),
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
