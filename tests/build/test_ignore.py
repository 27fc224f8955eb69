""".dockerignore: moby patternmatcher semantics, the walk, and re-included files."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerfs.build.context import ContextTree, walk
from layerfs.build.ignore import IgnoreMatcher, read_patterns


def test_read_patterns() -> None:
    text = "# comment\n  \n./a/../b/\n/abs\n! keep\n #not a comment\n"
    assert read_patterns(text) == ["b", "abs", "!keep", "#not a comment"]


@pytest.mark.parametrize(
    ("patterns", "path", "ignored"),
    [
        (["*.pyc"], "a.pyc", True),
        (["*.pyc"], "dir/a.pyc", False),  # * does not cross /
        (["**/*.pyc"], "dir/sub/a.pyc", True),
        (["**/*.pyc"], "a.pyc", True),  # ** matches zero dirs
        (["docs"], "docs/deep/file", True),  # a parent dir matches
        (["docs", "!docs/keep.md"], "docs/keep.md", False),
        (["docs", "!docs/keep.md"], "docs/other.md", True),
        (["*", "!src"], "src/main.py", False),
        (["*", "!src"], "README", True),
        (["a/**/b"], "a/b", True),
        (["a/**/b"], "a/x/y/b", True),
        (["logs/**"], "logs/x/y", True),
        (["!x", "x"], "x", True),  # the last match wins
        (["file?.txt"], "file1.txt", True),
        (["file?.txt"], "file/.txt", False),
        (["[a-c].md"], "b.md", True),
        (["data.json"], "sub/data.json", False),
        (["**"], "anything/at/all", True),
        (["*", "!*/keep.txt"], "dir/keep.txt", False),  # moby#30018: wildcard exception
        (["*", "!*/keep.txt"], "dir/other.txt", True),
    ],
)
def test_matcher(patterns: list[str], path: str, ignored: bool) -> None:
    assert IgnoreMatcher(patterns).ignored(path) is ignored


def test_walk_reincludes_inside_ignored_dir(tmp_path: Path) -> None:
    (tmp_path / "node_modules/pkg").mkdir(parents=True)
    (tmp_path / "node_modules/pkg/index.js").write_text("x")
    (tmp_path / "node_modules/keep.txt").write_text("k")
    (tmp_path / "app.py").write_text("a")
    tree = ContextTree(str(tmp_path), IgnoreMatcher(["node_modules", "!node_modules/keep.txt"]))
    names = [rel for rel, _ in walk(tree, "")]
    assert names == ["app.py", "node_modules", "node_modules/keep.txt"]


def test_walk_wildcard_exception_below_ignored_dirs(tmp_path: Path) -> None:
    """`*` then `!*/keep.txt`: every top entry is ignored, yet the walk must descend to
    find the exceptions (the shortcut that lost such files is the known trap)."""
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "keep.txt").write_text("k")
        (tmp_path / d / "drop.txt").write_text("d")
    tree = ContextTree(str(tmp_path), IgnoreMatcher(["*", "!*/keep.txt"]))
    assert [rel for rel, _ in walk(tree, "")] == ["a", "a/keep.txt", "b", "b/keep.txt"]
