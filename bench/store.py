"""Store benchmark: import, commit and sharing, layerfs against podman/buildah in one run.

Workloads (medians of --rounds, each round into a fresh store):
  import   `layerfs import` vs `podman import` of the same ~200 MB root file system tar
  commit   commit of an upper dir holding --commit-size bytes to a gzip layer + image:
           layerfs `commit_image` vs `buildah commit` of a working container with the
           same file (buildah compresses with Go's single-threaded gzip)
  share    20 images on one base: bytes added to the store per image (du), layerfs only
  load     `layerfs load` vs `podman load` of a docker-archive of the same rootfs
  push     `layerfs push` (from the store) vs `skopeo copy oci:LAYOUT docker://` of the
           same gzip blobs to a local docker-registry (127.0.0.1, a fresh repo per round)
  pull     `layerfs pull` (verify + unpack into a fresh store) vs `skopeo copy docker://
           oci:DIR` (no unpack) and `podman pull` (unpack)

Run as root: python3 bench/store.py [--rounds 3] [--commit-size 1G] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _common import GiB, MiB, Table, log, measure, reset_dir, scratch_dir, write_file
from layerfs.store.commit import commit_image
from layerfs.store.rootfs import import_rootfs
from layerfs.store.store import Store
from layerfs.transports import layout, loadsave
from layerfs.transports.locations import Location, RegistryOptions, open_image, write_image


def du(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def make_rootfs_tar(dest: Path, size: int) -> Path:
    """A tar of real files (/usr/lib and /usr/share, in sorted order) of about `size` bytes."""
    tar_path = dest / "rootfs.tar"
    total = 0
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tf:
        for top in ("/usr/lib", "/usr/share"):
            for root, dirs, files in os.walk(top):
                dirs.sort()
                for name in sorted(files):
                    path = os.path.join(root, name)
                    if total >= size or not os.path.isfile(path) or os.path.islink(path):
                        continue
                    total += os.path.getsize(path)
                    tf.add(path, arcname=os.path.relpath(path, "/"), recursive=False)
    return tar_path


def peer(tool: str, root: Path, *args: str, check: bool = True) -> str:
    """Run podman or buildah with a private store under `root`; its stdout, stripped."""
    cmd = [
        tool,
        "--root",
        str(root / "root"),
        "--runroot",
        str(root / "run"),
        "--storage-driver",
        "overlay",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, check=check).stdout.strip()


def bench_import(work: Path, tar: Path, rounds: int) -> dict[str, float | None]:
    store_dir, podman_dir = work / "imp-store", work / "imp-podman"

    def ours() -> None:
        with Store.open(str(store_dir)) as s:
            import_rootfs(s, str(tar), ["bench"])

    def theirs() -> None:
        peer("podman", podman_dir, "import", str(tar), "bench")

    result: dict[str, float | None] = {
        "layerfs": measure(ours, rounds, before=lambda: reset_dir(store_dir)).median
    }
    if shutil.which("podman"):
        result["podman"] = measure(theirs, rounds, before=lambda: reset_dir(podman_dir)).median
    shutil.rmtree(store_dir, ignore_errors=True)
    shutil.rmtree(podman_dir, ignore_errors=True)
    return result


def bench_commit(work: Path, size: int, rounds: int) -> dict[str, float | None]:
    upper = work / "upper"
    reset_dir(upper)
    write_file(upper / "big", size)
    store_dir = work / "commit-store"

    def ours() -> None:
        with Store.open(str(store_dir)) as s:
            commit_image(s, str(upper), None, ["committed"])

    result: dict[str, float | None] = {
        "layerfs": measure(ours, rounds, before=lambda: reset_dir(store_dir)).median
    }
    if shutil.which("buildah"):
        bdir = work / "commit-buildah"
        samples = []
        for _ in range(rounds):
            reset_dir(bdir)
            ctr = peer("buildah", bdir, "from", "scratch")
            peer("buildah", bdir, "copy", ctr, str(upper / "big"), "/big")
            t0 = time.perf_counter()
            peer("buildah", bdir, "commit", "--disable-compression=false", ctr, "committed")
            samples.append(time.perf_counter() - t0)
            peer("buildah", bdir, "rm", ctr)
            peer("buildah", bdir, "rmi", "-a", "-f", check=False)
        samples.sort()
        result["buildah"] = samples[len(samples) // 2]
        shutil.rmtree(bdir, ignore_errors=True)
    shutil.rmtree(store_dir, ignore_errors=True)
    shutil.rmtree(upper, ignore_errors=True)
    return result


def bench_share(work: Path, tar: Path, count: int = 20) -> dict[str, int]:
    store_dir = work / "share-store"
    reset_dir(store_dir)
    with Store.open(str(store_dir)) as s:
        import_rootfs(s, str(tar), ["base"])
        empty = du(store_dir)
        for i in range(count):
            upper = work / f"share-upper-{i}"
            reset_dir(upper)
            (upper / "app").mkdir()
            (upper / "app" / "id").write_text(f"{i}\n")
            commit_image(s, str(upper), s.image("base"), [f"app{i}"])
            shutil.rmtree(upper)
        total = du(store_dir)
    shutil.rmtree(store_dir, ignore_errors=True)
    return {
        "base": empty,
        "after": total,
        "per_image": (total - empty) // count,
        "images": count,
        "tar": tar.stat().st_size,
    }


@contextlib.contextmanager
def local_registry(work: Path) -> Iterator[str]:
    """docker-registry on 127.0.0.1:<free port> with its own config and storage; host:port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = work / "registry.yml"  # never the package's default config (all addresses)
    config.write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {work / 'registry'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(["docker-registry", "serve", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(400):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait()


def make_archive(work: Path, tar: Path) -> tuple[Path, Path]:
    """A store holding the rootfs as image `bench` and its docker-archive."""
    store_dir, archive = work / "xfer-store", work / "bench-docker.tar"
    reset_dir(store_dir)
    with Store.open(str(store_dir)) as s:
        import_rootfs(s, str(tar), ["bench"])
        loadsave.save(s, ["bench"], str(archive))
    return store_dir, archive


def bench_load(work: Path, archive: Path, rounds: int) -> dict[str, float | None]:
    store_dir, podman_dir = work / "load-store", work / "load-podman"

    def ours() -> None:
        with Store.open(str(store_dir)) as s:
            loadsave.load(s, str(archive))

    result: dict[str, float | None] = {
        "layerfs": measure(ours, rounds, before=lambda: reset_dir(store_dir)).median
    }
    if shutil.which("podman"):
        result["podman"] = measure(lambda: peer("podman", podman_dir, "load", "-i", str(archive)),
                                   rounds, before=lambda: reset_dir(podman_dir)).median
    shutil.rmtree(store_dir, ignore_errors=True)
    shutil.rmtree(podman_dir, ignore_errors=True)
    return result


def push_median(work: Path, rounds: int, push: Callable[[str], object]) -> float:
    """Median seconds of `push(host)`, each round into a fresh registry (so no tool can
    skip or mount blobs it saw in an earlier round, as skopeo's blob cache would)."""
    samples = []
    for i in range(rounds):
        reg = work / f"push-registry-{i}"
        reset_dir(reg)
        with local_registry(reg) as host:
            t0 = time.perf_counter()
            push(host)
            samples.append(time.perf_counter() - t0)
        shutil.rmtree(reg, ignore_errors=True)
    return sorted(samples)[len(samples) // 2]


def skopeo_copy(*args: str) -> None:
    subprocess.run(["skopeo", "copy", "-q", *args], check=True, capture_output=True)


def bench_push_pull(work: Path, store_dir: Path,
                    rounds: int) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """(push, pull) medians against a local docker-registry."""
    opts = RegistryOptions(tls_verify=False)

    def ours_push(host: str) -> None:
        with Store.open(str(store_dir)) as s, open_image(Location("store", "bench"), opts,
                                                         s) as image:
            write_image(Location("docker", f"{host}/bench/img:1"), image, opts)

    push: dict[str, float | None] = {"layerfs": push_median(work, rounds, ours_push)}
    lay = work / "xfer-layout"
    with Store.open(str(store_dir)) as s:
        layout.save_dir(str(lay), s.image("bench"), "bench")
    if shutil.which("skopeo"):
        push["skopeo"] = push_median(work, rounds, lambda host: skopeo_copy(
            "--dest-tls-verify=false", f"oci:{lay}:bench", f"docker://{host}/bench/img:1"))
    pull: dict[str, float | None] = {}
    reg = work / "pull-registry"
    reset_dir(reg)
    with local_registry(reg) as host:
        ref = f"{host}/bench/img:1"
        ours_push(host)
        pulled = work / "pull-store"

        def ours_pull() -> None:
            with Store.open(str(pulled)) as s, open_image(Location("docker", ref), opts) as image:
                write_image(Location("store", "pulled"), image, opts, s)

        pull["layerfs"] = measure(ours_pull, rounds, before=lambda: reset_dir(pulled)).median
        if shutil.which("skopeo"):
            out = work / "skopeo-pull"
            pull["skopeo"] = measure(lambda: skopeo_copy(
                "--src-tls-verify=false", f"docker://{ref}", f"oci:{out}:x"),
                rounds, before=lambda: shutil.rmtree(out, ignore_errors=True)).median
        if shutil.which("podman"):
            pdir = work / "pull-podman"
            pull["podman"] = measure(lambda: peer(
                "podman", pdir, "pull", "-q", "--tls-verify=false", ref),
                rounds, before=lambda: reset_dir(pdir)).median
    for d in ("pull-store", "skopeo-pull", "pull-podman", "pull-registry", "xfer-layout"):
        shutil.rmtree(work / d, ignore_errors=True)
    return push, pull


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": MiB, "G": GiB}
    return (
        int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tar-size", default="200M")
    ap.add_argument("--commit-size", default="1G")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work = scratch_dir()
    try:
        log(f"making a {args.tar_size} rootfs tar in {work}")
        tar = make_rootfs_tar(work, parse_size(args.tar_size))
        table = Table(["layerfs", "podman", "buildah", "skopeo"], "layerfs")
        log("import")
        table.add(
            f"import {tar.stat().st_size // MiB} MiB tar", "s", bench_import(work, tar, args.rounds)
        )
        log("commit")
        table.add(
            f"commit {args.commit_size} upper to gzip",
            "s",
            bench_commit(work, parse_size(args.commit_size), args.rounds),
        )
        log("load / push / pull")
        store_dir, archive = make_archive(work, tar)
        size = archive.stat().st_size // MiB
        table.add(f"load {size} MiB docker-archive", "s", bench_load(work, archive, args.rounds))
        if shutil.which("docker-registry"):
            with Store.open(str(store_dir)) as s:
                gz = sum(layer.size() for layer in s.image("bench").layers()) // MiB
            push, pull = bench_push_pull(work, store_dir, args.rounds)
            table.add(f"push image ({gz} MiB gzip blob)", "s", push)
            table.add(f"pull image ({gz} MiB gzip blob)", "s", pull)
        log("share")
        share = bench_share(work, tar)
        if args.json:
            print(json.dumps({"table": table.to_json(), "share": share}, indent=2))
        else:
            print(table.render())
            print(
                f"\n{share['images']} images on one base: base store {share['base']} B,"
                f" after {share['after']} B, {share['per_image']} B added per image"
                f" (the base tar is {share['tar']} B)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
