"""Store benchmark: import, commit and sharing, layerfs against podman/buildah in one run.

Workloads (medians of --rounds, each round into a fresh store):
  import   `layerfs import` vs `podman import` of the same ~200 MB root file system tar
  commit   commit of an upper dir holding --commit-size bytes to a gzip layer + image:
           layerfs `commit_image` vs `buildah commit` of a working container with the
           same file (buildah compresses with Go's single-threaded gzip)
  share    20 images on one base: bytes added to the store per image (du), layerfs only

Run as root: python3 bench/store.py [--rounds 3] [--commit-size 1G] [--json]
(load/save/push/pull against podman/skopeo are measured with the transports.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _common import GiB, MiB, Table, log, measure, reset_dir, scratch_dir, write_file
from layerfs.store.commit import commit_image
from layerfs.store.rootfs import import_rootfs
from layerfs.store.store import Store


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
        table = Table(["layerfs", "podman", "buildah"], "layerfs")
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
