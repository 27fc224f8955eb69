"""Against buildah: the same Dockerfile and context give the same file sets in each
layer (layer tar listings compared), and the layerfs image runs in podman.

buildah runs with `--layers --timestamp 0 --network none`, a temp containers.conf
(CONTAINERS_CONF) and temp --root/--runroot (see /work/shared/PEERS.md). The base is
the busybox rootfs of conftest.py, copied to buildah through an OCI layout.

One normalization, a buildah artifact: buildah touches /run in every RUN step (it
mounts /run/.containerenv), so its RUN layers hold a bare `run` directory entry; that
entry alone (no children in the layer) is left out of buildah's listings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import run_build, write_context

from layerfs.mounts import kernel
from layerfs.oci.image import Image, Layer
from layerfs.store import Store
from layerfs.store.durable import mounted_under
from layerfs.transports.layout import open_dir, save_dir

DOCKERFILE = """FROM busybox
ENV APP_HOME=/app
WORKDIR $APP_HOME
COPY requirements.txt ./
RUN mkdir -p /var/cache/pip && cat requirements.txt > /var/cache/pip/log \\
    && echo installed > /usr/lib-installed && rm /bin/true
COPY . .
RUN rm -rf /var/cache/pip && chmod 0700 /app/src && ln -s /app/main.sh /usr/bin/app
RUN mkdir /data && echo one > /data/x && echo two > /data/y
RUN rm /data/x && rm -rf /root && echo new > /data/z
RUN rm -rf /var/cache && mkdir -p /var/cache/fresh && touch /var/cache/fresh/f
USER app
CMD ["/usr/bin/app"]
"""
CONTEXT = {
    "requirements.txt": "flask==3.0\n",
    "main.sh": "#!/bin/sh\necho hello from layerfs\n",
    "src/lib/util.sh": "util\n",
    "src/readme": "readme\n",
    "notes.log": "ignored\n",
    ".dockerignore": "*.log\n",
}
TOOLS = ("buildah", "podman")


def _conf(tmp: Path) -> Path:
    hard = subprocess.run(["sh", "-c", "ulimit -Hn"], capture_output=True, text=True,
                          check=True).stdout.strip()
    conf = tmp / "containers.conf"
    conf.write_text(
        f'[containers]\ndefault_ulimits = ["nofile={hard}:{hard}", "nproc=32768:32768"]\n'
        'netns = "none"\n[engine]\nruntime = "runc"\n'
    )
    return conf


@pytest.fixture
def peers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    if os.geteuid() != 0:
        pytest.skip("buildah/podman comparisons run as root here")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {missing}")
    root = tmp_path / "peers"
    root.mkdir()
    monkeypatch.setenv("CONTAINERS_CONF", str(_conf(root)))
    runroot = tempfile.mkdtemp(prefix="lfb-", dir="/tmp")  # podman: at most 50 characters
    common = ["--root", str(root / "storage"), "--runroot", runroot]
    try:
        yield {t: [t, *common] for t in TOOLS}
    finally:
        for where in (str(root), runroot):
            for target in sorted(mounted_under(where), reverse=True):
                kernel.umount(target, lazy=True)
        shutil.rmtree(runroot, ignore_errors=True)


def _run(argv: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{argv}: {proc.stderr}"
    return proc.stdout


def listing(layer: Layer, drop_bare_run: bool = False) -> set[tuple[object, ...]]:
    """(name, type, permission bits, uid, gid, size) of every member of a layer tar.

    An opaque marker (`.wh..wh..opq`) is listed by name and type only: buildah (as moby)
    gives it its directory's mode and owner, archive.generate writes mode 0 - the
    marker's metadata means nothing to any reader.
    """
    with layer.uncompressed() as f, tarfile.open(fileobj=f, mode="r|") as tf:
        members = {(m.name.removeprefix("./").rstrip("/"), m.type, m.mode & 0o7777, m.uid,
                    m.gid, m.size if m.isfile() else 0)
                   if not m.name.endswith("/.wh..wh..opq") else (m.name, m.type)
                   for m in tf}
    if drop_bare_run and not any(str(m[0]).startswith("run/") for m in members):
        members = {m for m in members if m[0] != "run"}
    return members


def pull_layout(tool: list[str], layout_dir: Path) -> str:
    """Pull the OCI layout's `latest`; its image id. The path is given relative: the
    tools name the image after an absolute path, which a temp dir name (`..._`) can make
    an invalid reference."""
    out = _run([*tool, "pull", "-q", f"oci:{layout_dir.name}:latest"], cwd=layout_dir.parent)
    return out.strip().splitlines()[-1]


def buildah_build(store: Store, base: str, tmp_path: Path, buildah: list[str], ctx: Path
                  ) -> Image:
    """`buildah bud --layers` of `ctx` on the store's `base` (copied over as "busybox");
    the result read back from an OCI layout."""
    base_layout = tmp_path / "base-layout"
    if not base_layout.exists():
        save_dir(str(base_layout), store.image(base), "latest")
        image_id = pull_layout(buildah, base_layout)
        _run([*buildah, "tag", image_id, "busybox"])
    _run([*buildah, "bud", "-q", "--layers", "--timestamp", "0", "--network", "none",
          "-t", "peer", "."], cwd=ctx)
    peer_layout = tmp_path / f"peer-layout-{ctx.name}"
    _run([*buildah, "push", "-q", "peer", f"oci:{peer_layout}:latest"])
    return open_dir(str(peer_layout), "latest")


def test_dockerignore_selects_what_buildah_selects(
    store: Store, busybox: str, tmp_path: Path, peers: dict[str, list[str]]
) -> None:
    files = ["docs/a.md", "docs/keep/k.md", "src/main.py", "src/pkg/x.pyc",
             "src/pkg/deep/y.pyc", "src/pkg/deep/z.py", "node_modules/a/i.js",
             "node_modules/keep.txt", "build/out/bin", "logs/l.log", "top.log", "README",
             "Dockerfile.extra", "a/b/c/secret.key", "a/keep.key"]
    ctx = write_context(tmp_path / "ign", {f: f + "\n" for f in files})
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY . /ctx/\n")
    (ctx / ".dockerignore").write_text(
        "# comment\ndocs\n!docs/keep/k.md\n**/*.pyc\n!src/pkg/deep/y.pyc\nnode_modules\n"
        "!node_modules/keep.txt\n/build\n*.log\n!logs/l.log\nDockerfile*\n"
        "a/**/*.key\n!a/keep.key\n")
    theirs = buildah_build(store, busybox, tmp_path, peers["buildah"], ctx)
    run_build(store, ctx, tags=("ign",))
    mine = store.image("ign").layers()[-1]
    assert listing(mine) == listing(theirs.layers()[-1])
    names = {str(m[0]) for m in listing(mine)}
    assert "ctx/docs/keep/k.md" in names and "ctx/docs/a.md" not in names
    assert "ctx/a/keep.key" in names and "ctx/a/b/c/secret.key" not in names


COPY_RULES = """FROM busybox AS build
RUN mkdir -p /out/sub && echo built > /out/sub/bin && echo x > /out/top && chmod 0750 /out/sub
FROM busybox
COPY --from=build --chown=app:staff --chmod=0640 /out /dist/
COPY --from=build /out/top /single
COPY *.txt /w/
COPY dir /d
COPY dir/ /d2/
COPY c.md /renamed.md
COPY c.md /new/deeper/renamed.md
COPY --chown=1000:50 c.md /p1/p2/owned/
COPY --chown=1000:50 priv /q1/q2
COPY --chmod=0600 priv /r1
COPY priv /newdest
ADD pkg.tar.gz /opt/
ADD --chown=1000:50 pkg.tar.gz /opt2/
"""


def test_copy_rules_as_buildah(
    store: Store, busybox: str, tmp_path: Path, peers: dict[str, list[str]]
) -> None:
    ctx = write_context(tmp_path / "rules", {
        "Dockerfile": COPY_RULES, "a.txt": "a", "b.txt": "b", "c.md": "c",
        "dir/sub/y": "y", "dir/z": "z", "priv/in/f": "f",
    })
    os.chmod(ctx / "priv", 0o700)
    os.chmod(ctx / "priv/in", 0o750)
    with tarfile.open(ctx / "pkg.tar.gz", "w:gz") as tf:
        tf.add(ctx / "dir", arcname="pkg")
    theirs = buildah_build(store, busybox, tmp_path, peers["buildah"], ctx)
    run_build(store, ctx, tags=("rules",))
    mine = store.image("rules").layers()
    assert len(mine) == len(theirs.layers()) == 14
    for i, (t, m) in enumerate(zip(theirs.layers(), mine, strict=True)):
        assert listing(t) == listing(m), f"layer {i} differs"


def test_same_layers_as_buildah_and_runs_in_podman(
    store: Store, busybox: str, tmp_path: Path, peers: dict[str, list[str]]
) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": DOCKERFILE, **CONTEXT})
    os.chmod(ctx / "main.sh", 0o755)
    theirs = buildah_build(store, busybox, tmp_path, peers["buildah"], ctx)

    ours = run_build(store, ctx, tags=("ours",))
    mine = store.image("ours")
    their_layers, my_layers = theirs.layers(), mine.layers()
    assert len(their_layers) == len(my_layers) == 8
    made = [h.created_by for h in theirs.config().history if not h.empty_layer]
    for i, (t, m) in enumerate(zip(their_layers, my_layers, strict=True)):
        is_run = i > 0 and "#(nop)" not in made[i]
        assert listing(t, drop_bare_run=is_run) == listing(m), f"layer {i} differs"
    # history: the same steps make layers, the rest are empty_layer entries
    their_empty = [h.empty_layer for h in theirs.config().history]
    my_empty = [h.empty_layer for h in mine.config().history]
    assert their_empty == my_empty
    assert mine.config().config.user == theirs.config().config.user == "app"
    for field in ("env", "working_dir", "cmd", "entrypoint"):
        assert getattr(mine.config().config, field) == getattr(theirs.config().config, field)
    assert [r.status for r in ours.steps].count("MISS") == len(ours.steps)

    # the layerfs image runs in podman
    my_layout = tmp_path / "my-layout"
    save_dir(str(my_layout), mine, "latest")
    podman = peers["podman"]
    image_id = pull_layout(podman, my_layout)
    out = _run([*podman, "run", "--rm", "--network", "none", image_id])
    assert out == "hello from layerfs\n"
    out = _run([*podman, "run", "--rm", "--network", "none", "--user", "0",
                image_id, "sh", "-c",
                "ls /data; test -e /bin/true || echo no-true; test -e /root || echo no-root;"
                " ls /var/cache; ls /app"])
    assert out.split() == ["y", "z", "no-true", "no-root", "fresh", "Dockerfile", "main.sh",
                           "requirements.txt", "src"]
