"""The build context as lint sees it: its size (measured by walking it), its largest
entries, whether an ignore file exists, and the ignore file to propose: the seed's
`.dockerignore` entries that match something in the context; and the seed's "Not using
.dockerignore" rule.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from layerfs.analysis.lint_model import Charge, Finding
from layerfs.analysis.lint_rules import (
    StageInput,
    bytes_text,
    charged,
    copies_context,
    costed,
    lines_text,
    workdir_at,
)
from layerfs.analysis.model import ADDED, MODIFIED
from layerfs.build.ignore import IGNORE_FILES, IgnoreMatcher

#: the seed's .dockerignore (plus the virtualenv and tool caches it implies)
SEED_PATTERNS = (".git", "node_modules", "__pycache__", "*.pyc", ".env", "*.log", ".venv",
                 "**/__pycache__", "**/*.pyc", "**/*.log")
_TOP = 5


@dataclass(frozen=True)
class ContextInfo:
    """A context directory: total bytes of its regular files (symlinks not followed),
    file count, the largest top-level entries (name, bytes), the ignore file in use
    (None: none), and every file's context-relative path and size."""

    root: str
    size: int
    file_count: int
    largest: tuple[tuple[str, int], ...]
    ignore_file: str | None
    files: tuple[tuple[str, int], ...]

    def has(self, rel: str) -> bool:
        rel = rel.strip("/")
        return any(path == rel for path, _ in self.files)

    def proposal(self) -> tuple[str, ...]:
        """The seed's ignore patterns that keep out at least one file of the context
        that the patterns before them do not."""
        out: list[str] = []
        for pattern in SEED_PATTERNS:
            chosen, more = IgnoreMatcher(out), IgnoreMatcher([pattern])
            if any(more.ignored(path) and not chosen.ignored(path) for path, _ in self.files):
                out.append(pattern)
        return tuple(out)

    def ignored_bytes(self, patterns: tuple[str, ...]) -> int:
        matcher = IgnoreMatcher(patterns)
        return sum(size for path, size in self.files if matcher.ignored(path))


def read_context(root: str, dockerfile: str | None = None) -> ContextInfo:
    """Walk `root` (OSError when it is not a readable directory)."""
    if not os.path.isdir(root):
        raise NotADirectoryError(f"context {root!r} is not a directory")
    files: list[tuple[str, int]] = []
    top: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(filenames):
            st = os.lstat(os.path.join(dirpath, name))
            if not stat.S_ISREG(st.st_mode):
                continue
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            files.append((rel, st.st_size))
            head = rel.split("/", 1)[0]
            top[head] = top.get(head, 0) + st.st_size
    largest = tuple(sorted(top.items(), key=lambda kv: (-kv[1], kv[0]))[:_TOP])
    return ContextInfo(os.path.abspath(root), sum(s for _, s in files), len(files), largest,
                       _ignore_file(root, dockerfile), tuple(files))


def _ignore_file(root: str, dockerfile: str | None) -> str | None:
    candidates = [dockerfile + ".dockerignore"] if dockerfile else []
    candidates += [os.path.join(root, n) for n in IGNORE_FILES]
    return next((c for c in candidates if os.path.isfile(c)), None)


def no_dockerignore(context: ContextInfo, inputs: Sequence[StageInput], threshold: int
                    ) -> list[Finding]:
    """The seed's "Not using .dockerignore": no ignore file and a context of at least
    `threshold` bytes. The fix is an ignore file (the seed's entries found here); the
    cost, with an image, is the bytes of the built stage's `COPY .` layers that it
    would have kept out. `inputs`: every stage (the one with an image is measured)."""
    if context.ignore_file is not None or context.size < threshold:
        return []
    patterns = context.proposal()
    copies = [(si, i) for si in inputs for i in si.stage.instructions
              if copies_context(i) is not None]
    largest = ", ".join(f"{name} ({bytes_text(size)})" for name, size in context.largest)
    message = (f"no .dockerignore, and the context is {bytes_text(context.size)} in "
               f"{context.file_count} files (largest: {largest}): every build reads all of it"
               + (f", and {lines_text([i for _, i in copies])} copies all of it" if copies
                  else ""))
    note = (f"keeps {bytes_text(context.ignored_bytes(patterns))} out of the context"
            if patterns else "none of the seed's usual entries is here: list what the "
            "build does not need (see the largest entries)")
    built = next((si for si in inputs if si.image is not None), inputs[-1])
    finding = Finding("no-dockerignore", built.stage.label, tuple(i.line for _, i in copies),
                      (0, 0), message, patterns, fix_file=".dockerignore", fix_note=note)
    if built.image is None or not patterns:
        return [finding]
    matcher = IgnoreMatcher(patterns)
    charges: list[Charge] = []
    measured = [i for si, i in copies if si is built]
    for ins in measured:
        layer = built.image.layer(ins)
        if layer is None:
            continue
        dest = posixpath.join(workdir_at(built.stage, ins), copies_context(ins) or ".")
        root = posixpath.normpath(dest).rstrip("/") + "/"
        charges += [Charge(layer.index, c.path, c.size) for c in layer.changes
                    if c.kind in (ADDED, MODIFIED) and not c.is_dir
                    and c.path.startswith(root) and matcher.ignored(c.path[len(root):])]
    return [costed(finding, charges, charged(
        charges, "bytes of files the .dockerignore keeps out, copied into the image by "
        f"{lines_text(measured) if measured else 'no line of the built stage'}"))]
