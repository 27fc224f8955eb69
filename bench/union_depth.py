#!/usr/bin/env python3
"""Benchmark: what one `UnionView` call costs as the number of lower layers grows.

    .venv/bin/python bench/union_depth.py --dir /dev/shm          # 1, 16 and 128 layers
    .venv/bin/python bench/union_depth.py --quick                 # 1 and 16, fewer files

Fixture per depth N (built under --dir, removed afterwards): N lower layers that all hold
the directory ``/a/b/d``; FILES small files spread over them (layer i holds ``f<i>_<j>``),
an empty upper dir. On tmpfs (``--dir /dev/shm``) the file system's own cost stays small,
so the figures show the engine's. Workloads, each the median of --rounds rounds on a
fresh view and upper dir, in µs per call: lstat of every file; lstat of as many missing
names; create (O_CREAT) of CREATES new files; unlink of UNLINKS lower files; copy-up
(open for append, write one byte, close) of COPYUPS lower files.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import log, parse_standard, scratch_dir, standard_parser
from layerfs.union import UnionView

FILES, CREATES, UNLINKS, COPYUPS = 256, 500, 100, 50
WORKLOADS = ("lstat existing", "lstat missing", "create", "unlink", "copy-up")


def build(root: Path, depth: int) -> list[str]:
    """`depth` lower layers (top first) sharing /a/b/d, FILES files spread over them."""
    lowers = []
    per_layer = max(1, FILES // depth)
    for i in range(depth):
        d = root / f"l{i}" / "a" / "b" / "d"
        d.mkdir(parents=True)
        for j in range(per_layer):
            (d / f"f{i}_{j}").write_bytes(b"x" * 100)
        lowers.append(str(root / f"l{i}"))
    return lowers


def one_round(root: Path, lowers: list[str]) -> dict[str, float]:
    """Every workload once on a fresh upper dir; µs per call."""
    up, work = root / "upper", root / "work"
    for d in (up, work):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
    v = UnionView(lowers, str(up), str(work))
    names = [f"/a/b/d/{n}" for n in v.listdir("/a/b/d")]
    out: dict[str, float] = {}

    def timed(label: str, calls: int, body: object) -> None:
        t0 = time.perf_counter()
        body()  # type: ignore[operator]
        out[label] = (time.perf_counter() - t0) / calls * 1e6

    def missing() -> None:
        for p in names:
            if v.exists(p + ".missing"):
                raise RuntimeError(p)

    def append() -> None:
        for p in names[UNLINKS : UNLINKS + COPYUPS]:
            fd = v.open(p, os.O_WRONLY | os.O_APPEND)
            os.write(fd, b"y")
            os.close(fd)

    timed("lstat existing", len(names), lambda: [v.lstat(p) for p in names])
    timed("lstat missing", len(names), missing)
    timed("create", CREATES, lambda: [os.close(v.create(f"/a/b/d/new{k}"))
                                      for k in range(CREATES)])
    timed("unlink", UNLINKS, lambda: [v.unlink(p) for p in names[:UNLINKS]])
    timed("copy-up", COPYUPS, append)
    return out


def main(argv: list[str] | None = None) -> int:
    p = standard_parser(__doc__)
    p.add_argument("--layers", default=None, help="comma-separated depths (default 1,16,128)")
    args = parse_standard(p, argv)
    depths = [int(x) for x in (args.layers or ("1,16" if args.quick else "1,16,128")).split(",")]
    results: dict[int, dict[str, float]] = {}
    for depth in depths:
        root = scratch_dir(args.dir)
        try:
            log(f"{depth} lower layers under {root}")
            lowers = build(root, depth)
            rounds = [one_round(root, lowers) for _ in range(args.rounds)]
            results[depth] = {w: sorted(r[w] for r in rounds)[len(rounds) // 2] for w in WORKLOADS}
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps({"rounds": args.rounds, "us_per_call": results}, indent=2))
        return 0
    print(f"{'lower layers':>12}  " + "  ".join(f"{w:>14}" for w in WORKLOADS) + "   (µs/call)")
    for depth, row in results.items():
        print(f"{depth:>12}  " + "  ".join(f"{row[w]:>14.1f}" for w in WORKLOADS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
