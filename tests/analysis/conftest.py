"""Fixtures for analysis tests: one store per test module with a busybox base and images
built from Dockerfiles at test time, and helpers to run the CLI against it."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner, Result

from layerfs.build.builder import BuildOptions, build
from layerfs.cli.main import cli
from layerfs.store import Store, import_rootfs


def _build_fixtures() -> ModuleType:
    """tests/build/conftest.py (the busybox base helper), loaded by path: test dirs are
    not packages here."""
    path = Path(__file__).resolve().parents[1] / "build" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_analysis_build_fixtures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_bf = _build_fixtures()
BUSYBOX: str = _bf.BUSYBOX
make_busybox_rootfs = _bf.make_busybox_rootfs

MiB = 1 << 20


class Lab:
    """A store with busybox:latest and a way to build more images into it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = Store.open(str(root / "store"))
        rootfs = root / "busybox-rootfs"
        make_busybox_rootfs(rootfs)
        import_rootfs(self.store, str(rootfs), ["busybox:latest"])

    def build(self, tag: str, dockerfile: str, files: dict[str, bytes] | None = None) -> str:
        ctx = self.root / f"ctx-{tag.replace(':', '-')}"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(dockerfile)
        for name, data in (files or {}).items():
            (ctx / name).write_bytes(data)
        build(self.store, BuildOptions(str(ctx), dockerfile=str(ctx / "Dockerfile"),
                                       tags=(tag,)))
        return tag

    def cli(self, *args: str) -> Result:
        """`layerfs ARGS` on this store (LAYERFS_ROOT restored afterwards)."""
        return CliRunner().invoke(cli, list(args), env={"LAYERFS_ROOT": str(self.root / "store")},
                                  catch_exceptions=False)

    def save(self, tag: str) -> str:
        """The image as a docker-archive (what `layerfs save` writes)."""
        out = str(self.root / f"{tag.replace(':', '-')}.tar")
        if not os.path.exists(out):
            result = self.cli("save", "-o", out, tag)
            assert result.exit_code == 0, result.output
        return out


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("builds with RUN need root (mounts, runc)")
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", "0")
        lab = Lab(tmp_path_factory.mktemp("analysis"))
        try:
            yield lab
        finally:
            lab.store.close()
