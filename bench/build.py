"""Build benchmark: `layerfs build` against `buildah bud --layers` (and BuildKit when a
dockerd can be started) on the same Dockerfile, context and busybox base, in one run.

Workloads (medians of --rounds):
  cold         a build into a fresh store (the base image already there, untimed)
  cached       the same build again, nothing changed (every step a cache hit)
  one changed  one COPY'd application file changed before each round: the steps from
               that COPY on run again (the "pip install" step stays cached)

Every target runs as a command (`layerfs build` is the CLI, Python start-up included, with
its bytecode compiled as an installed package has it).
buildah: `--layers --timestamp 0 --network none`, its own --root/--runroot and a temp
containers.conf (see PEERS.md). BuildKit: `dockerd --iptables=false --bridge=none` on a
private socket and data root, `DOCKER_BUILDKIT=1 docker build --network none`; skipped
(n/a) when dockerd does not start.

Run as root: python3 bench/build.py [--rounds 3] [--files 400] [--json]
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "build"))
from conftest import make_busybox_rootfs

from _common import Sample, Table, log, measure, parse_standard, scratch_dir, standard_parser
from layerfs.store import Store, import_rootfs
from layerfs.transports import layout, loadsave

DOCKERFILE = """FROM busybox
WORKDIR /app
COPY requirements.txt .
RUN mkdir -p /opt/deps && for i in $(seq 1 300); do \\
      dd if=/dev/zero of=/opt/deps/lib$i.so bs=16k count=1 2>/dev/null; done
COPY . .
RUN find /app -type f | wc -l > /app/.count
CMD ["sh"]
"""
LAYERFS = [str(Path(sys.executable).with_name("layerfs"))]


def make_context(root: Path, files: int) -> Path:
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "requirements.txt").write_text("flask==3.0\nrequests==2.31\n")
    for i in range(files):
        d = root / "src" / f"pkg{i % 20}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"mod{i}.py").write_text(f"# module {i}\n" + "x = 1\n" * 200)
    (root / "app.py").write_text("print('v0')\n")
    return root


def _run(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]}: {proc.stderr[-2000:]}")
    return proc.stdout


class LayerfsTarget:
    name = "layerfs"

    def __init__(self, work: Path, rootfs: Path, ctx: Path) -> None:
        self.work, self.rootfs, self.ctx = work, rootfs, ctx
        self.root = work / "layerfs-store"
        # bytecode as an installed CLI has it (PYTHONDONTWRITEBYTECODE would recompile
        # every module per run), cached under the scratch dir, not in src/
        self.env = {**os.environ, "SOURCE_DATE_EPOCH": "0",
                    "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
                    "PYTHONPYCACHEPREFIX": str(work / "pycache")}
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)

    def fresh(self) -> None:
        """An empty store holding the base image; the CLI's bytecode compiled (untimed)."""
        _run([sys.executable, "-c", "import layerfs.cli.main, layerfs.cli.build"], env=self.env)
        shutil.rmtree(self.root, ignore_errors=True)
        with Store.open(str(self.root)) as store:
            import_rootfs(store, str(self.rootfs), ["busybox"])

    def build(self) -> None:
        _run([*LAYERFS, "build", "--root", str(self.root), "-q", "-t", "bench", str(self.ctx)],
             env=self.env)


def containers_conf(dest: Path) -> Path:
    hard = subprocess.run(["sh", "-c", "ulimit -Hn"], capture_output=True, text=True,
                          check=True).stdout.strip()
    dest.write_text(f'[containers]\ndefault_ulimits = ["nofile={hard}:{hard}",'
                    ' "nproc=32768:32768"]\nnetns = "none"\n[engine]\nruntime = "runc"\n')
    return dest


class BuildahTarget:
    name = "buildah"

    def __init__(self, work: Path, base_layout: Path, ctx: Path) -> None:
        self.work, self.layout, self.ctx = work, base_layout, ctx
        self.runroot = Path(tempfile.mkdtemp(prefix="lfbb-", dir="/tmp"))
        self.env = {**os.environ, "CONTAINERS_CONF": str(containers_conf(work / "c.conf"))}

    def argv(self, *args: str) -> list[str]:
        return ["buildah", "--root", str(self.work / "buildah"), "--runroot",
                str(self.runroot), *args]

    def fresh(self) -> None:
        self.cleanup()
        # a relative path: buildah names the image after the path, and a temp dir's
        # name ("..._") can make an absolute one an invalid reference
        image_id = _run(self.argv("pull", "-q", f"oci:{self.layout.name}:latest"),
                        cwd=self.layout.parent, env=self.env).strip().splitlines()[-1]
        _run(self.argv("tag", image_id, "busybox"), env=self.env)

    def build(self) -> None:
        _run(self.argv("bud", "-q", "--layers", "--timestamp", "0", "--network", "none",
                       "-t", "bench", "."), cwd=self.ctx, env=self.env)

    def cleanup(self) -> None:
        umount_under(self.work / "buildah")
        umount_under(self.runroot)
        shutil.rmtree(self.work / "buildah", ignore_errors=True)


DOCKERD = Path("/usr/sbin/dockerd")
DOCKER = Path("/usr/bin/docker")  # Debian's CLI, matching its dockerd (not /usr/local/bin's)


class BuildkitTarget:
    """BuildKit inside a dockerd started here: its own data root, exec root, pidfile, socket
    and (empty) daemon config, no iptables, no IP masquerading, no bridge, no registry
    mirrors. `start()` returns "" when the daemon answers, else why it is not available;
    `stop()` ends it by the PID it wrote (SIGTERM, then SIGKILL) and unmounts what it left.
    """

    name = "buildkit"

    def __init__(self, work: Path, archive: Path, ctx: Path) -> None:
        self.work, self.archive, self.ctx = work, archive, ctx
        self.sock = work / "docker.sock"
        self.pidfile = work / "docker.pid"
        self.proc: subprocess.Popen[bytes] | None = None
        self.logfile: BinaryIO | None = None
        self.env = {**os.environ, "DOCKER_BUILDKIT": "1",
                    "DOCKER_CONFIG": str(work / "docker-cli")}
        self.env.pop("DOCKER_HOST", None)

    def docker(self, *args: str) -> list[str]:
        return [str(DOCKER), "-H", f"unix://{self.sock}", *args]

    def start(self) -> str:
        if not DOCKERD.exists():
            return "dockerd not installed"
        if not DOCKER.exists():
            return f"{DOCKER} not installed"
        conf = self.work / "daemon.json"
        conf.write_text("{}\n")
        (self.work / "docker-cli").mkdir(exist_ok=True)
        self.logfile = open(self.work / "dockerd.log", "wb")  # noqa: SIM115 - stop() closes
        self.proc = subprocess.Popen(
            [str(DOCKERD), "--config-file", str(conf), "--data-root", str(self.work / "docker"),
             "--exec-root", str(self.work / "dexec"), "--pidfile", str(self.pidfile),
             "-H", f"unix://{self.sock}", "--iptables=false", "--ip-masq=false",
             "--bridge=none"],
            stdout=self.logfile, stderr=subprocess.STDOUT, env=self.env)
        for _ in range(150):
            if self.proc.poll() is not None:
                break
            if subprocess.run(self.docker("info"), env=self.env,
                              capture_output=True).returncode == 0:
                return ""
            time.sleep(0.2)
        tail = (self.work / "dockerd.log").read_text(errors="replace")[-500:]
        self.stop()
        return f"dockerd did not start: {tail.strip().splitlines()[-1:] or ''}"

    def fresh(self) -> None:
        subprocess.run(self.docker("rmi", "-f", "bench"), env=self.env, capture_output=True)
        _run(self.docker("builder", "prune", "-af"), env=self.env)
        _run(self.docker("load", "-q", "-i", str(self.archive)), env=self.env)

    def build(self) -> None:
        _run(self.docker("build", "-q", "--network", "none", "-t", "bench", "."), cwd=self.ctx,
             env=self.env)

    def stop(self) -> None:
        if self.proc is not None:
            pid = self.proc.pid
            with contextlib.suppress(OSError, ValueError):
                pid = int(self.pidfile.read_text().strip())
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            self.proc = None
        if self.logfile is not None:
            self.logfile.close()
            self.logfile = None
        umount_under(self.work / "docker")
        umount_under(self.work / "dexec")


def umount_under(path: Path) -> None:
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in sorted((p for p in points if p == real or p.startswith(real + "/")), reverse=True):
        subprocess.run(["umount", "-l", p], capture_output=True)


# app.py versions across all targets: a content seen before (say, the one a target's cold
# build used) would be a cache hit in a content-keyed cache, not "one changed"
_VERSIONS = itertools.count(1)


def workloads(target: object, ctx: Path, rounds: int) -> dict[str, Sample]:
    """The three workloads on one target, in order: cold, cached, one changed."""
    fresh: Callable[[], None] = target.fresh  # type: ignore[attr-defined]
    build: Callable[[], None] = target.build  # type: ignore[attr-defined]
    out: dict[str, Sample] = {}
    out["cold"] = measure(build, rounds, before=fresh)
    build()
    out["cached"] = measure(build, rounds)

    def touch_app() -> None:
        (ctx / "app.py").write_text(f"print('v{next(_VERSIONS)}')\n")

    out["one changed"] = measure(build, rounds, before=touch_app)
    return out


@contextlib.contextmanager
def fixture(args: object) -> Iterator[tuple[Path, Path, Path, Path, Path]]:
    work = scratch_dir(getattr(args, "dir", None))
    try:
        rootfs = work / "rootfs"
        make_busybox_rootfs(rootfs)
        ctx = make_context(work / "ctx", getattr(args, "files", 400))
        with Store.open(str(work / "base-store")) as store:
            import_rootfs(store, str(rootfs), ["busybox"])
            base_layout = work / "base-layout"
            layout.save_dir(str(base_layout), store.image("busybox"), "latest")
            archive = work / "base.tar"
            loadsave.save(store, ["busybox"], str(archive), "docker-archive")
        yield work, rootfs, ctx, base_layout, archive
    finally:
        if not getattr(args, "keep", False):
            umount_under(work)
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    p = standard_parser(__doc__)
    p.add_argument("--files", type=int, default=400, help="application files in the context")
    p.add_argument("--no-buildkit", action="store_true", help="do not try to start dockerd")
    args = parse_standard(p, argv)
    if args.quick:
        args.files = 40
    targets = ["layerfs", "buildah", "buildkit"]
    table = Table(targets, "layerfs")
    results: dict[str, dict[str, Sample]] = {}
    notes: dict[str, str] = {}  # target -> why its column is n/a
    with fixture(args) as (work, rootfs, ctx, base_layout, archive):
        log(f"fixture: {args.files} files in {ctx}")
        results["layerfs"] = workloads(LayerfsTarget(work, rootfs, ctx), ctx, args.rounds)
        if shutil.which("buildah"):
            b = BuildahTarget(work, base_layout, ctx)
            try:
                results["buildah"] = workloads(b, ctx, args.rounds)
            finally:
                b.cleanup()
        if args.no_buildkit:
            notes["buildkit"] = "n/a (--no-buildkit)"
        else:
            k = BuildkitTarget(work, archive, ctx)
            try:
                why = k.start()
                if why:
                    notes["buildkit"] = f"n/a ({why})"
                else:
                    results["buildkit"] = workloads(k, ctx, args.rounds)
            finally:
                k.stop()
    for w in ("cold", "cached", "one changed"):
        table.add(w, "s", {t: results[t][w].median if w in results.get(t, {}) else None
                           for t in targets})
    if args.json:
        print(json.dumps({"rounds": args.rounds, "files": args.files,
                          "rows": table.to_json(), "notes": notes,
                          "seconds": {t: {w: list(s.seconds) for w, s in r.items()}
                                      for t, r in results.items()}}, indent=2))
    else:
        print(table.render())
        for target, why in notes.items():
            print(f"{target}: {why}")


if __name__ == "__main__":
    main()
