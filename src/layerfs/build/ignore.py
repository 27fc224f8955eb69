""".dockerignore / .containerignore: moby's patternmatcher rules, exactly.

Reading (`read_patterns`): a line whose first character is `#` is a comment; other
lines are trimmed, empty ones skipped; `!` marks an exception (re-include); the pattern
is cleaned (`filepath.Clean`: `./a/../b/` → `b`) and a leading `/` dropped.

Matching (`IgnoreMatcher.ignored`): patterns are applied in order, the last one that
matches decides; a pattern matches a path when it matches the path itself *or any of
its parent directories* (so `dir` excludes everything below it, and `!dir/keep` after it
brings one file back). Pattern syntax is Go's filepath.Match (`*` and `?` do not cross
`/`, `[a-z]` classes, `\\` escapes) plus `**`, which matches any number of directories
(zero included): `**/x` matches `x` and `a/b/x`; a trailing `**` matches everything below.

A path inside an ignored directory can still be re-included by a later `!` pattern;
the walker (context.py) therefore descends into an ignored directory whenever some
exception pattern exists (the shortcut docker's CLI took there lost such files).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from layerfs.errors import InvalidInput

IGNORE_FILES = (".containerignore", ".dockerignore")
_ESCAPE = set(".+()|{}$^")


def clean(path: str) -> str:
    """Go's path.Clean for slash paths ("" → ".")."""
    if not path:
        return "."
    return posixpath.normpath(path).replace("//", "/") if path != "/" else "/"


def read_patterns(text: str) -> list[str]:
    """The patterns of an ignore file's text, normalized as moby's ignorefile.ReadAll."""
    out: list[str] = []
    for line in text.lstrip("\ufeff").splitlines():
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


def load_ignore_file(context_dir: str, dockerfile: str | None = None) -> list[str]:
    """Patterns for a build: `<Dockerfile>.dockerignore` next to the Dockerfile when it
    exists (BuildKit), else `.containerignore`, else `.dockerignore` in the context."""
    candidates: list[str] = []
    if dockerfile:
        candidates.append(dockerfile + ".dockerignore")
    candidates += [os.path.join(context_dir, n) for n in IGNORE_FILES]
    for path in candidates:
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                return read_patterns(f.read())
        except FileNotFoundError:
            continue
    return []


@dataclass(frozen=True)
class _Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str] | None
    kind: str  # "exact", "prefix", "suffix", "regex"

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regex is not None
        return self.regex.match(path) is not None


def _compile(text: str, exclusion: bool) -> _Pattern:
    """moby patternmatcher's Pattern.compile, for `/` as the separator."""
    out = ["^"]
    kind = "exact"
    i, n = 0, len(text)
    first = True
    while i < n:
        ch = text[i]
        i += 1
        if ch == "*":
            if i < n and text[i] == "*":
                i += 1
                if i < n and text[i] == "/":
                    i += 1
                if i >= n:
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        out.append(".*")
                        kind = "regex"
                else:
                    out.append("(.*/)?")
                    kind = "regex"
                if first:
                    kind = "suffix"
            else:
                out.append("[^/]*")
                kind = "regex"
        elif ch == "?":
            out.append("[^/]")
            kind = "regex"
        elif ch in _ESCAPE:
            out.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                out.append("\\" + text[i])
                i += 1
                kind = "regex"
            else:
                out.append("\\\\")
        elif ch in "[]":
            out.append(ch)
            kind = "regex"
        else:
            out.append(re.escape(ch) if ch in "^" else ch)
        first = False
    if kind != "regex":
        return _Pattern(text, exclusion, None, kind)
    try:
        regex = re.compile("".join(out) + "$", re.DOTALL)
    except re.error as e:
        raise InvalidInput(f"bad ignore pattern {text!r}: {e}") from None
    return _Pattern(text, exclusion, regex, "regex")


class IgnoreMatcher:
    """A compiled list of patterns; `ignored(path)` for slash paths relative to the context."""

    def __init__(self, patterns: Iterable[str]) -> None:
        compiled: list[_Pattern] = []
        for raw in patterns:
            p = raw.strip()
            if not p:
                continue
            exclusion = p.startswith("!")
            if exclusion:
                if len(p) == 1:
                    raise InvalidInput('illegal exclusion pattern: "!"')
                p = p[1:]
            compiled.append(_compile(clean(p), exclusion))
        self.patterns: Sequence[_Pattern] = tuple(compiled)
        self.has_exceptions = any(p.exclusion for p in compiled)

    def ignored(self, path: str) -> bool:
        """MatchesOrParentMatches: True when the path is excluded from the context."""
        path = clean(path)
        if path == ".":
            return False
        parent = posixpath.dirname(path)
        parents = parent.split("/") if parent else []
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path)
            if not hit:
                for i in range(len(parents)):
                    if pattern.match("/".join(parents[: i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pattern.exclusion
        return matched
