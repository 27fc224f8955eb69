"""Builds end to end on a busybox base: the seed's Part 4 lab, layers and history,
multi-stage, COPY/ADD semantics, squash, reproducibility, the CLI."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_busybox_rootfs
from helpers import run_build, statuses, write_context

from layerfs.build.output import check_layer_count
from layerfs.cli.main import cli
from layerfs.errors import BuildFailed, InvalidInput
from layerfs.store import Store, import_rootfs
from layerfs.store.durable import mounted_under
from layerfs.store.fsck import fsck
from layerfs.union.view import UnionView

# the seed's Part 4 lab, `apk` replaced by a shell step making and deleting a cache
CACHE = "mkdir -p /var/cache/apk && dd if=/dev/zero of=/var/cache/apk/APKINDEX bs=1k count=600"
BAD = f"""FROM busybox
RUN {CACHE}
RUN echo '#!/bin/sh' > /usr/bin/curl && chmod +x /usr/bin/curl
RUN rm -rf /var/cache/apk/*
"""
GOOD = f"""FROM busybox
RUN {CACHE} && echo '#!/bin/sh' > /usr/bin/curl && chmod +x /usr/bin/curl && rm -rf /var/cache/apk/*
"""


def test_seed_part4_good_is_smaller(store: Store, busybox: str, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile.bad": BAD, "Dockerfile.good": GOOD})
    bad = run_build(store, ctx, "Dockerfile.bad", tags=("bad-layers",))
    good = run_build(store, ctx, "Dockerfile.good", tags=("good-layers",))
    assert good.image.size < bad.image.size - 500_000
    bad_cfg = store.image("bad-layers").config()
    assert len(bad_cfg.diff_ids) == 4 and len(store.image("good-layers").config().diff_ids) == 2
    assert [h.created_by for h in bad_cfg.history][1].startswith("RUN /bin/sh -c mkdir")
    # the rm made a whiteout: the cache is hidden, its bytes still in layer 2
    layers = store.image("bad-layers").store_layers()
    view = UnionView([layer.path for layer in reversed(layers)])
    assert view.listdir("/var/cache/apk") == []
    assert os.path.getsize(os.path.join(layers[1].path, "var/cache/apk/APKINDEX")) == 600 * 1024
    # `images` shows good < bad, `history` the layers (the CLI the seed's lab uses)
    runner = CliRunner()
    root = ["--root", store.paths.root]
    rows = json.loads(runner.invoke(cli, ["images", "--json", *root]).output)
    size = {r["Repository"]: r["Size"] for r in rows}
    assert size["good-layers"] < size["bad-layers"]
    lengths = [len(json.loads(runner.invoke(cli, ["history", "--json", *root, name]).output))
               for name in ("bad-layers", "good-layers")]
    assert lengths == [4, 2]


def test_metadata_history_and_config(store: Store, busybox: str, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """FROM busybox
LABEL a=1 "b c"=d
ENV PATH=/usr/local/bin:$PATH GREETING="hi there"
USER app
EXPOSE 80 53/udp
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s CMD ["true"]
ONBUILD RUN echo triggered
SHELL ["/bin/sh", "-ec"]
WORKDIR rel
ENTRYPOINT ["/bin/sh"]
CMD echo $GREETING
""", "f": "x"})
    result = run_build(store, ctx)
    cfg = store.image(str(result.image.id)).config()
    cc = cfg.config
    assert dict(cc.labels) == {"a": "1", "b c": "d"}
    assert cc.env_dict()["GREETING"] == "hi there" and cc.user == "app"
    assert cc.exposed_ports == ("53/udp", "80/tcp") and cc.volumes == ("/data",)
    assert cc.working_dir == "/rel" and cc.entrypoint == ("/bin/sh",)
    assert cc.cmd == ("/bin/sh", "-ec", "echo $GREETING") and cc.onbuild == ("RUN echo triggered",)
    assert cc.healthcheck is not None and cc.healthcheck.interval == 30 * 10**9
    assert cc.stop_signal == "SIGTERM"
    assert len(cfg.diff_ids) == 1  # no layer for metadata
    assert all(h.empty_layer for h in cfg.history[1:])


def test_multistage_target_copy_from_chown_chmod(store: Store, busybox: str, tmp_path: Path
                                                 ) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """FROM busybox AS build
RUN mkdir -p /out/sub && echo built > /out/sub/bin && echo x > /out/top
FROM busybox AS unused
RUN exit 3
FROM busybox
COPY --from=build --chown=app:staff --chmod=0640 /out /dist/
COPY --from=0 /out/top /single
COPY --from=busybox /etc/passwd /from-image
"""})
    result = run_build(store, ctx, tags=("final",))
    assert "unused" not in {r.stage for r in result.steps}  # not needed: not built
    image = store.image("final")
    view = UnionView(image.lowerdirs())
    st = view.lstat("/dist/sub/bin")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1000, 50, 0o640)
    assert view.read_bytes("/dist/sub/bin") == b"built\n" and view.read_bytes("/single") == b"x\n"
    assert view.read_bytes("/from-image").startswith(b"root:x:0:0")
    assert len(image.config().diff_ids) == 4
    target = run_build(store, ctx, target="build")
    assert {r.stage for r in target.steps} == {"build"} and set(statuses(target)) == {"HIT"}
    with pytest.raises(BuildFailed, match="returned a non-zero code: 3"):
        run_build(store, ctx, target="unused")
    # a failed RUN leaves no snapshot and no mount behind
    assert [s.name for s in store.snapshots.walk() if s.kind == "active"] == []
    assert mounted_under(store.paths.root) == []
    # no orphan blobs of the stages, and a later --target build re-makes the one it needs
    assert fsck(store, deep=True).problems == ()


def test_copy_wildcards_dirs_and_add(store: Store, busybox: str, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {
        "a.txt": "a", "b.txt": "b", "c.md": "c", "dir/x/y": "y", "dir/z": "z",
    })
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = b"from tar\n"
        info = tarfile.TarInfo("pkg/inside.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    (ctx / "pkg.tar.gz").write_bytes(buf.getvalue())
    (ctx / "Dockerfile").write_text("""FROM busybox
COPY *.txt /w/
COPY dir /d
COPY c.md /renamed.md
ADD pkg.tar.gz /opt/
COPY <<EOF /etc/motd
hello heredoc
EOF
RUN test -f /w/a.txt && test -f /d/x/y && test ! -e /d/dir && cat /opt/pkg/inside.txt
RUN <<EOF
echo from heredoc > /hd
EOF
RUN cat <<X > /hd2
line $HOME
X
""")
    result = run_build(store, ctx, tags=("c",))
    view = UnionView(store.image("c").lowerdirs())
    assert sorted(view.listdir("/w")) == ["a.txt", "b.txt"]
    assert view.read_bytes("/renamed.md") == b"c"
    assert view.read_bytes("/etc/motd") == b"hello heredoc\n"
    assert view.read_bytes("/opt/pkg/inside.txt") == b"from tar\n"
    assert view.read_bytes("/hd") == b"from heredoc\n"
    assert view.read_bytes("/hd2") == b"line /root\n"  # the shell expands an unquoted heredoc
    assert statuses(result).count("MISS") == len(result.steps)
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY a.txt b.txt /notdir\n")
    with pytest.raises(InvalidInput, match="must be a directory and end with a /"):
        run_build(store, ctx)
    (ctx / "Dockerfile").write_text("FROM busybox\nADD https://example.com/x.tgz /x\n")
    with pytest.raises(InvalidInput, match="offline"):
        run_build(store, ctx)
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY missing /x\n")
    with pytest.raises(InvalidInput, match='"/missing" not found'):
        run_build(store, ctx)
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY ../outside /x\n")
    with pytest.raises(InvalidInput, match="outside the build context"):
        run_build(store, ctx)


def test_copy_through_a_symlinked_dir(store: Store, busybox: str, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"a.txt": "a", "d/e/f": "f", "Dockerfile": (
        "FROM busybox\nRUN mkdir /srv && ln -s /srv /app\nCOPY a.txt /app/sub/\n"
        "COPY d /app/new/\n")})
    run_build(store, ctx, tags=("ln",))
    view = UnionView(store.image("ln").lowerdirs())
    assert view.read_bytes("/srv/sub/a.txt") == b"a" and view.read_bytes("/srv/new/e/f") == b"f"
    assert os.path.islink(view.lookup("/app").realpath)


def test_squash_keeps_base_and_cache(store: Store, busybox: str, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile.bad": BAD})
    plain = run_build(store, ctx, "Dockerfile.bad")
    squashed = run_build(store, ctx, "Dockerfile.bad", squash=True, tags=("sq",))
    assert set(statuses(squashed)) == {"HIT"}  # the cache is kept and used
    image = store.image("sq")
    base = store.image(busybox)
    assert len(image.config().diff_ids) == 2
    assert image.config().diff_ids[0] == base.config().diff_ids[0]
    assert squashed.image.size < plain.image.size - 500_000
    view = UnionView(image.lowerdirs())
    assert view.listdir("/var/cache/apk") == [] and view.exists("/usr/bin/curl")
    assert not view.exists("/var/cache/apk/APKINDEX")
    assert fsck(store, deep=True).problems == ()


def test_reproducible_with_source_date_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    rootfs = tmp_path / "rootfs"
    make_busybox_rootfs(rootfs)
    ctx = write_context(tmp_path / "ctx", {"app.py": "x", "Dockerfile": (
        "FROM busybox\nCOPY app.py /app/\n"
        "RUN echo stamp > /stamp && mkdir -p /var/made\nENV A=1\n")})
    digests = []
    for n in range(2):
        with Store.open(str(tmp_path / f"store{n}")) as s:
            import_rootfs(s, str(rootfs), ["busybox"])
            digests.append((run_build(s, ctx).image.manifest_digest,
                            s.image("busybox").id))
    assert digests[0] == digests[1]


def test_layer_count_guard() -> None:
    assert check_layer_count(100) is None
    assert "101 layers" in (check_layer_count(101) or "")
    with pytest.raises(InvalidInput, match="500"):
        check_layer_count(500)


def test_cli_explain_json(store: Store, busybox: str, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nARG V=1\nRUN echo $V\n"})
    root = store.paths.root
    runner = CliRunner()
    first = runner.invoke(cli, ["build", "--root", root, "-t", "x", "--explain", str(ctx)])
    assert first.exit_code == 0, first.output
    assert "Successfully tagged x:latest" in first.output and "MISS" in first.output
    out = runner.invoke(cli, ["build", "--root", root, "--explain", "--json",
                              "--build-arg", "V=2", str(ctx)])
    assert out.exit_code == 0, out.output
    steps = json.loads(out.output)["steps"]
    assert [s["status"] for s in steps] == ["HIT", "HIT", "MISS"]
    assert steps[2]["reason"] == "arg V changed: 1 -> 2"


def test_a_killed_build_leaves_nothing_for_the_next(store: Store, busybox: str, tmp_path: Path
                                                    ) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": (
        "FROM busybox\nRUN touch /started && sleep 4242\n")})
    script = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from helpers import run_build\nfrom pathlib import Path\nfrom layerfs.store import Store\n"
        f"with Store.open({store.paths.root!r}) as s:\n    run_build(s, Path({str(ctx)!r}))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not any("/merged" in m for m in mounted_under(store.paths.root)):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(0.3)
        proc.kill()  # kill -9 of the builder while its RUN runs
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo next\n")
    run_build(store, ctx)
    assert [s.name for s in store.snapshots.walk() if s.kind == "active"] == []
    assert mounted_under(store.paths.root) == []
    running = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "sleep 4242" not in running  # the orphaned RUN command was killed


@pytest.mark.parametrize(("variable", "value"), [("LAYERFS_RUNTIME", "chroot"),
                                                 ("LAYERFS_ROOTFS", "fuse")])
def test_run_on_the_fallbacks_makes_the_same_layer(
    store: Store, busybox: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    variable: str, value: str,
) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": (
        "FROM busybox\nRUN mkdir -p /srv/x && echo hi > /srv/x/f && rm /bin/true\n")})
    default = run_build(store, ctx).image
    monkeypatch.setenv(variable, value)
    fallback = run_build(store, ctx, no_cache=True).image
    if value == "chroot":
        assert fallback.id == default.id
        return
    # the FUSE server mounts with redirect_dir on (the kernel mount here has it off), and
    # then, as the kernel does, a directory made in a merged parent is opaque
    def members(image_id: str) -> set[str]:
        with store.image(image_id).layers()[-1].uncompressed() as f, \
                tarfile.open(fileobj=f, mode="r|") as tf:
            return {m.name for m in tf}
    assert members(str(fallback.id)) - {"srv/.wh..wh..opq"} == members(str(default.id))


def test_more_than_100_layers_warns(store: Store, busybox: str, tmp_path: Path) -> None:
    steps = "".join(f"COPY f /f{i}\n" for i in range(101))
    ctx = write_context(tmp_path / "ctx", {"f": "x", "Dockerfile": f"FROM busybox\n{steps}"})
    result = run_build(store, ctx)
    assert len(store.image(str(result.image.id)).layers()) == 102
    assert any("102 layers" in w for w in result.warnings)
