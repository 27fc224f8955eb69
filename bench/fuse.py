"""FUSE mount benchmark: native dir, kernel overlay, fuse-overlayfs and layerfs FUSE side by
side, every mount up at once, medians of >= 3 rounds (issue 3's workloads).

Two stacks are mounted on every target: the main one (2 lower layers: the fixtures, and
a second layer that half of the readdir directory comes from) and a deep one (128 lower
layers) for the ENOENT rows.

    .venv/bin/python bench/fuse.py [--rounds 3] [--quick] [--json] [--dir /var/tmp]

Workloads: sequential read of a 1 GiB lower file cold and warm; stat of 10,000 files in
100 dirs on a fresh mount and warm; readdir of a 10,000-entry dir merged from 2 layers
(fresh mount); ENOENT lookups under a dir present in 1, 16, 64 and 128 lower layers;
1-byte append to a 1 GiB lower file (time, and bytes added to the upper dir); create
10,000 4 KiB files; unlink 10,000 lower files; importing stdlib modules from a copy of the
stdlib in a lower layer; `tar -c` of that copy, cold and warm. Cold rows drop the page,
dentry and inode caches before each round (root only). Run as root: the kernel overlay
and the FUSE passthrough need it.
"""

from __future__ import annotations

import abc
import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    GiB,
    MiB,
    Table,
    drop_caches,
    hardlink_tree,
    log,
    measure,
    reset_dir,
    scratch_dir,
    write_file,
)
from layerfs.mounts import fuse, kernel
from layerfs.mounts.mount import Mount
from layerfs.mounts.options import OverlayOptions

LAYERS = 128
DEPTHS = (1, 16, 64, 128)
IMPORT = "import email, json, http.client, asyncio, xml.dom.minidom"
PYVER = f"python{sys.version_info.major}.{sys.version_info.minor}"


class Sizes:
    def __init__(self, quick: bool) -> None:
        self.big = 16 * MiB if quick else GiB
        self.stat_dirs, self.stat_files = (10, 10) if quick else (100, 100)
        self.readdir = 500 if quick else 10_000
        self.create = 500 if quick else 10_000
        self.unlink = 500 if quick else 10_000
        self.misses = 200 if quick else 2_000


def build(root: Path, sz: Sizes, quick: bool = False) -> tuple[list[Path], list[Path]]:
    """(the main stack: 2 lower layers with every fixture but one, the deep stack: 128
    lower layers for the ENOENT rows), each top first."""
    lowers = [root / "L" / name for name in ("top", "base")]
    deep = [root / "D" / f"{i:03d}" for i in range(LAYERS)]
    for d in (*lowers, *deep):
        d.mkdir(parents=True)
    base, second = lowers[-1], lowers[-2]
    write_file(base / "big", sz.big)
    for d in range(sz.stat_dirs):
        (base / "st" / f"d{d}").mkdir(parents=True)
        for f in range(sz.stat_files):
            (base / "st" / f"d{d}" / f"f{f}").write_bytes(b"x")
    for i, layer in enumerate((base, second)):
        (layer / "rd").mkdir()
        for n in range(i, sz.readdir, 2):
            (layer / "rd" / f"entry{n:05d}").write_bytes(b"")
    (base / "ul").mkdir()
    for n in range(sz.unlink):
        (base / "ul" / f"u{n}").write_bytes(b"u")
    for depth in DEPTHS:
        for i, layer in enumerate(deep[:depth]):
            (layer / f"e{depth}").mkdir()
            (layer / f"e{depth}" / f"present{i}").write_bytes(b"")
    shutil.copytree(f"/usr/lib/{PYVER}", base / "py" / "lib" / PYVER, symlinks=True,
                    ignore=shutil.ignore_patterns(
                        "site-packages", "dist-packages", "__pycache__", "test", "idlelib",
                        *(["config-*", "lib2to3", "pydoc_data"] if quick else []),
                    ))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(base / "py")], check=False,
                   capture_output=True)
    os.sync()
    return lowers, deep


class Target(abc.ABC):
    """One place the union is visible; `fresh()` remounts it with an empty upper dir."""

    name = ""

    def __init__(self, base: Path, lowers: list[Path]) -> None:
        self.base, self.lowers = base, lowers
        self.root = str(base / "merged")
        self.mounted = False
        self.fresh()

    def fresh(self) -> None:
        self.unmount()
        for sub in ("upper", "work", "merged"):
            reset_dir(self.base / sub)
        self.mount()
        self.mounted = True

    def options(self) -> OverlayOptions:
        return OverlayOptions(tuple(str(p) for p in self.lowers), str(self.base / "upper"),
                              str(self.base / "work"))

    @abc.abstractmethod
    def mount(self) -> None:
        """Make the union visible at `self.root`."""

    def unmount(self) -> None:
        if self.mounted:
            fuse.umount(self.root)
            self.mounted = False

    def upper_bytes(self) -> int:
        total = 0
        for dirpath, _dirs, files in os.walk(self.base / "upper"):
            for name in files:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
        return total


class Native(Target):
    name = "native"

    def mount(self) -> None:
        hardlink_tree(self.lowers, self.base / "merged")

    def fresh(self) -> None:
        if not self.mounted:
            reset_dir(self.base / "merged")
            self.mount()
            self.mounted = True

    def unmount(self) -> None:
        pass

    def upper_bytes(self) -> int:
        return 0


class KernelOverlay(Target):
    name = "kernel"

    def mount(self) -> None:
        kernel.mount_overlay(self.options(), self.root)


class FuseOverlayfs(Target):
    name = "fuse-overlayfs"

    def mount(self) -> None:
        subprocess.run(["fuse-overlayfs", "-o", self.options().to_string(), self.root],
                       check=True, capture_output=True)


class LayerfsFuse(Target):
    name = "layerfs"

    def mount(self) -> None:
        fuse.mount(Mount("fuse.layerfs", "layerfs", self.options().data_options()), self.root)


TARGETS: tuple[type[Target], ...] = (Native, KernelOverlay, FuseOverlayfs, LayerfsFuse)


def run(targets: list[Target], deep: list[Target], sz: Sizes, rounds: int,
        cold_ok: bool) -> Table:
    table = Table([t.name for t in targets], "layerfs")
    cold = drop_caches if cold_ok else (lambda: None)
    c = "cold" if cold_ok else "cold (caches NOT dropped: not root)"

    def row(label: str, unit: str, fn: Callable[[Target], Callable[[], object]],
            before: Callable[[Target], object] | None = None, scale: float = 1.0,
            per: Callable[[Target], Callable[[], object]] | None = None,
            pool: list[Target] = targets) -> None:
        values: dict[str, float | None] = {}
        for t in pool:
            log(f"  {label}: {t.name}")
            try:
                b = (lambda t=t: before(t)) if before else None
                s = measure(fn(t), rounds, before=b, after=per(t) if per else None)
                values[t.name] = s.median * scale
            except (OSError, subprocess.CalledProcessError) as e:
                log(f"    failed: {e}")
                values[t.name] = None
        table.add(label, unit, values)

    big = sz.big // MiB
    row(f"read {big} MiB lower file, {c}", "MB/s", lambda t: lambda: _read(t.root + "/big"),
        before=lambda t: cold())
    _to_rate(table, sz.big)
    row(f"read {big} MiB lower file, warm", "MB/s", lambda t: lambda: _read(t.root + "/big"))
    _to_rate(table, sz.big)
    n = sz.stat_dirs * sz.stat_files
    row(f"stat {n} files in {sz.stat_dirs} dirs, fresh mount", "ms",
        lambda t: lambda: _stat_tree(t.root, sz), before=lambda t: (t.fresh(), cold()),
        scale=1e3)
    row(f"stat {n} files in {sz.stat_dirs} dirs, warm", "ms",
        lambda t: lambda: _stat_tree(t.root, sz), scale=1e3)
    row(f"readdir {sz.readdir}-entry dir from 2 layers, fresh", "ms",
        lambda t: lambda: os.listdir(t.root + "/rd"), before=lambda t: t.fresh(), scale=1e3)
    for depth in DEPTHS:
        counter = iter(range(10**9))
        row(f"ENOENT lookup, dir in {depth} layers", "us",
            lambda t, d=depth, it=counter: lambda: _misses(t.root, d, next(it), sz.misses),
            scale=1e6 / sz.misses, pool=deep)
    row(f"append 1 byte to {big} MiB lower file", "ms",
        lambda t: lambda: _append(t.root + "/big"), before=lambda t: t.fresh(), scale=1e3,
        per=lambda t: lambda: _unappend(t))
    table.add("  bytes added to upper by that append", "MiB",
              {t.name: _append_cost(t) for t in targets})
    # sync before each round: the write-back of earlier rows (1 GiB copies) must not land
    # in the timed part of another target's round.
    row(f"create {sz.create} 4 KiB files", "ms", lambda t: lambda: _create(t.root, sz.create),
        before=lambda t: (t.fresh(), os.sync()), scale=1e3)
    row(f"unlink {sz.unlink} lower files", "ms", lambda t: lambda: _unlink(t.root, sz.unlink),
        before=lambda t: (t.fresh(), os.sync()), scale=1e3,
        per=lambda t: lambda: _relink(t, sz.unlink))
    row(f"python3 -c '{IMPORT}' from a lower stdlib, {c}", "ms",
        lambda t: lambda: _import(t.root), before=lambda t: (t.fresh(), cold()), scale=1e3)
    row(f"python3 -c '{IMPORT}', warm", "ms", lambda t: lambda: _import(t.root), scale=1e3)
    row(f"tar -c stdlib copy > /dev/zero, {c}", "ms", lambda t: lambda: _tar(t.root),
        before=lambda t: (t.fresh(), cold()), scale=1e3)
    row("tar -c stdlib copy > /dev/zero, warm", "ms", lambda t: lambda: _tar(t.root), scale=1e3)
    return table


def _to_rate(table: Table, size: int) -> None:
    row = table.rows[-1]
    for k, v in list(row.items()):
        if isinstance(v, float):
            row[k] = size / v / 1e6


def _read(path: str) -> None:
    buf = bytearray(MiB)
    fd = os.open(path, os.O_RDONLY)
    try:
        while os.readv(fd, [buf]):
            pass
    finally:
        os.close(fd)


def _stat_tree(root: str, sz: Sizes) -> None:
    for d in range(sz.stat_dirs):
        for f in range(sz.stat_files):
            os.stat(f"{root}/st/d{d}/f{f}")


def _misses(root: str, depth: int, rnd: int, count: int) -> None:
    for i in range(count):
        with contextlib.suppress(FileNotFoundError):
            os.stat(f"{root}/e{depth}/miss{rnd}_{i}")


def _append(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"!")
        os.fsync(fd)
    finally:
        os.close(fd)


def _unappend(t: Target) -> None:
    if isinstance(t, Native):
        st = os.stat(t.root + "/big")
        os.truncate(t.root + "/big", st.st_size - 1)


def _append_cost(t: Target) -> float | None:
    if isinstance(t, Native):
        return 0.0
    try:
        t.fresh()
        before = t.upper_bytes()
        _append(t.root + "/big")
        return (t.upper_bytes() - before) / MiB
    except OSError:
        return None


def _create(root: str, count: int) -> None:
    data = b"c" * 4096
    top = f"{root}/cr{time.monotonic_ns()}"
    os.mkdir(top)
    for i in range(count):
        fd = os.open(f"{top}/c{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, data)
        os.close(fd)


def _unlink(root: str, count: int) -> None:
    for i in range(count):
        os.unlink(f"{root}/ul/u{i}")


def _relink(t: Target, count: int) -> None:
    if isinstance(t, Native):  # native unlinked hard links to the layer: put them back
        for i in range(count):
            os.link(t.lowers[-1] / "ul" / f"u{i}", f"{t.root}/ul/u{i}")


def _import(root: str) -> None:
    env = {"PYTHONHOME": f"{root}/py", "PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin"}
    subprocess.run(["/usr/bin/python3", "-c", IMPORT], env=env, check=True)


def _tar(root: str) -> None:
    subprocess.run(["tar", "-cf", "/dev/zero", "-C", root, "py"], check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small fixture (smoke run)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per workload (>= 3)")
    ap.add_argument("--dir", default=None, help="scratch parent dir (default /var/tmp)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the fixture directory")
    args = ap.parse_args(argv)
    sz = Sizes(args.quick)
    root = scratch_dir(args.dir, "layerfs-bench-fuse-")
    targets: list[Target] = []
    deep: list[Target] = []
    try:
        log(f"building the fixture under {root}")
        t0 = time.perf_counter()
        lowers, deep_lowers = build(root, sz, args.quick)
        log(f"  {time.perf_counter() - t0:.1f} s")
        for cls in TARGETS:
            if cls is KernelOverlay and os.geteuid() != 0:
                continue
            if cls is FuseOverlayfs and shutil.which("fuse-overlayfs") is None:
                continue
            targets.append(cls(root / cls.name, lowers))
            deep.append(cls(root / f"{cls.name}-deep", deep_lowers))
        table = run(targets, deep, sz, max(args.rounds, 1), os.geteuid() == 0)
    finally:
        for t in targets + deep:
            with contextlib.suppress(OSError):
                t.unmount()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps({"rounds": args.rounds, "rows": table.to_json()}, indent=1))
    else:
        print(table.render())
        print()
        print("ratios: >1 is faster for throughput (MB/s) rows, slower for time rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
