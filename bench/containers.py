"""Containers benchmark: N containers from one image, layerfs against podman in one run.

The seed: "100 containers from one image = 1 copy + 100 thin layers". For each tool, the
same busybox root file system is imported once, then N containers are created, started
(`sleep 3600`) and stopped (SIGTERM, then SIGKILL at once: `stop -t 0`), one after the
other, each command a separate process as a user would run it. Reported:

  per container   median seconds of create, start, stop and their sum (N samples)
  disk            bytes added on disk by the N stopped containers (du of the store root,
                  allocated blocks), per container; the issue's bound is 64 KiB

Targets: `layerfs` and `podman` through their CLIs (a process per step; layerfs pays
Python's start-up, ~0.4 s, each time), and `layerfs-lib`, the same steps as library calls
in one process (what the engine itself costs).

Run as root: python3 bench/containers.py [--count 100] [--json] [--quick]
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _common import Table, log, parse_standard, scratch_dir, standard_parser
from runtime.busybox import make_busybox_rootfs

LAYERFS = str(Path(sys.executable).with_name("layerfs"))
KiB = 1024


def du(path: Path) -> int:
    """Allocated bytes under `path`, one file system only (mounts are not entered)."""
    out = subprocess.run(
        ["du", "-s", "-x", "--block-size=1", str(path)], capture_output=True, text=True, check=True
    )
    return int(out.stdout.split()[0])


class Tool:
    """One container engine driven through its CLI."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], root: Path) -> None:
        self.name, self.argv, self.env, self.root = name, argv, env, root

    def __call__(self, *args: str) -> float:
        t0 = time.perf_counter()
        proc = subprocess.run([*self.argv, *args], capture_output=True, text=True, env=self.env)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{self.name} {' '.join(args)}: {proc.stderr.strip()}")
        return elapsed


def layerfs_tool(base: Path) -> Tool:
    root = base / "layerfs"
    return Tool("layerfs", [LAYERFS], {**os.environ, "LAYERFS_ROOT": str(root)}, root)


def podman_tool(base: Path) -> Tool:
    short = Path(os.environ.get("TMPDIR", "/tmp")) / f"lfb-{os.getpid()}"  # runroot < 50 chars
    short.mkdir(exist_ok=True)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    conf = short / "containers.conf"
    conf.write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={hard}:{hard}", "nproc=32768:32768"]\n'
        'netns = "none"\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )
    root = base / "podman"
    argv = ["podman", "--root", str(root), "--runroot", str(short / "rr")]
    argv += ["--storage-driver", "overlay"]
    return Tool("podman", argv, {**os.environ, "CONTAINERS_CONF": str(conf)}, root)


def run_tool(tool: Tool, rootfs: Path, tar: Path, count: int) -> dict[str, float]:
    """Import, then create/start/stop `count` containers; medians and disk figures."""
    if tool.name == "layerfs":
        tool("import", str(rootfs), "bb:latest")
    else:
        tool("import", str(tar), "bb:latest")
    before = du(tool.root)
    times: dict[str, list[float]] = {"create": [], "start": [], "stop": []}
    for i in range(count):
        name = f"c{i}"
        times["create"].append(tool("create", "--name", name, "bb:latest", "sleep", "3600"))
        times["start"].append(tool("start", name))
        times["stop"].append(tool("stop", "-t", "0", name))
    added = du(tool.root) - before
    log(f"{tool.name}: {count} containers, {added} bytes added")
    result = {k: statistics.median(v) for k, v in times.items()}
    total = [sum(t) for t in zip(*times.values(), strict=True)]
    result["total"] = statistics.median(total)
    result["disk_per_container"] = added / count
    result["disk_total"] = float(added)
    return result


def run_library(base: Path, rootfs: Path, count: int) -> dict[str, float]:
    """The same steps through the library in one process (no CLI start-up per step)."""
    from layerfs.runtime import lifecycle
    from layerfs.store.rootfs import import_rootfs
    from layerfs.store.store import Store

    root = base / "library"
    times: dict[str, list[float]] = {"create": [], "start": [], "stop": []}
    with Store.open(str(root)) as store:
        import_rootfs(store, str(rootfs), ["bb:latest"])
        before = du(root)
        try:
            for i in range(count):
                t0 = time.perf_counter()
                c = lifecycle.create(store, "bb:latest", ["sleep", "3600"], name=f"c{i}")
                t1 = time.perf_counter()
                lifecycle.start(store, c.id)
                t2 = time.perf_counter()
                lifecycle.stop(store, c.id, 0)
                t3 = time.perf_counter()
                for key, value in (("create", t1 - t0), ("start", t2 - t1), ("stop", t3 - t2)):
                    times[key].append(value)
            added = du(root) - before
        finally:
            for i in range(count):
                with contextlib.suppress(Exception):
                    lifecycle.remove(store, f"c{i}", force=True)
    result = {k: statistics.median(v) for k, v in times.items()}
    result["total"] = statistics.median([sum(t) for t in zip(*times.values(), strict=True)])
    result["disk_per_container"] = added / count
    result["disk_total"] = float(added)
    return result


def cleanup(tool: Tool, count: int) -> None:
    for i in range(count):
        subprocess.run([*tool.argv, "rm", "-f", f"c{i}"], capture_output=True, env=tool.env)
    if tool.name == "podman":
        subprocess.run([*tool.argv, "system", "reset", "-f"], capture_output=True, env=tool.env)


def main(argv: list[str] | None = None) -> int:
    parser = standard_parser(__doc__)
    parser.add_argument("--count", type=int, default=100, help="containers per tool")
    args = parse_standard(parser, argv)
    count = min(args.count, 5) if args.quick else args.count
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up when killed
    base = scratch_dir(args.dir, "layerfs-bench-containers-")
    tools = [layerfs_tool(base)]
    if shutil.which("podman"):
        tools.append(podman_tool(base))
    results: dict[str, dict[str, float]] = {}
    try:
        rootfs = make_busybox_rootfs(base / "rootfs")
        tar = base / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tar), "."], check=True)
        for tool in tools:
            try:
                results[tool.name] = run_tool(tool, rootfs, tar, count)
            finally:
                cleanup(tool, count)
        results["layerfs-lib"] = run_library(base, rootfs, count)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
            for tool in tools:
                if tool.name == "podman":
                    shutil.rmtree(Path(tool.env["CONTAINERS_CONF"]).parent, ignore_errors=True)
    names = [t.name for t in tools] + ["layerfs-lib"]
    table = Table(names, "layerfs")
    for key in ("create", "start", "stop", "total"):
        table.add(f"{key} (median of {count})", "s", {n: results[n][key] for n in names})
    table.add(
        "disk per container", "KiB", {n: results[n]["disk_per_container"] / KiB for n in names}
    )
    table.add(
        f"disk, {count} containers", "KiB", {n: results[n]["disk_total"] / KiB for n in names}
    )
    bound = results["layerfs"]["disk_total"] <= count * 64 * KiB
    if args.json:
        print(
            json.dumps({"count": count, "rows": table.to_json(), "within_64KiB": bound}, indent=2)
        )
    else:
        print(table.render())
        print(
            f"\nlayerfs: {count} containers added {results['layerfs']['disk_total'] / KiB:.0f} KiB"
            f" (bound {count * 64} KiB: {'ok' if bound else 'EXCEEDED'})"
        )
    return 0 if bound else 1


if __name__ == "__main__":
    sys.exit(main())
