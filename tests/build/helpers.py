"""Helpers for build tests: write a context, build, read reports."""

from __future__ import annotations

from pathlib import Path

from layerfs.build.builder import BuildOptions, BuildResult, build
from layerfs.store import Store


def write_context(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def run_build(store: Store, ctx: Path, dockerfile: str = "Dockerfile", **kw: object
              ) -> BuildResult:
    return build(store, BuildOptions(str(ctx), dockerfile=str(ctx / dockerfile), **kw))  # type: ignore[arg-type]


def statuses(result: BuildResult) -> list[str]:
    return [r.status for r in result.steps]
