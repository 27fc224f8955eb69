"""Dockerfile text → instructions (BuildKit's frontend/dockerfile/parser rules).

- Parser directives (`# syntax=`, `# escape=`, `# check=`) only in the leading comment
  block, before any blank line or instruction; names are case-insensitive, each at most
  once. `escape` is `\\` (default) or a backtick.
- A line ending in the escape character (trailing blanks allowed) continues on the next
  one; comment lines and blank lines inside a continuation are dropped.
- `#` starts a comment only as the first non-blank character of a line.
- Heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`) after RUN, COPY and ADD: the body is
  the lines up to the terminator; `<<-` strips leading tabs; a quoted word means no
  variable expansion in the body.
- Exec form: the arguments parse as a JSON array of strings; otherwise shell form.
- Flags (`--from=x`, `--chown=u:g`, `--network=none`...) are taken from the front of
  the arguments of the instructions that have them.

A syntax error raises `DockerfileError` naming the line and column (both 1-based).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from layerfs.errors import InvalidInput

KEYWORDS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
    "WORKDIR",
})
HEREDOC_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})
FLAGGED = frozenset({"ADD", "COPY", "RUN", "FROM", "HEALTHCHECK"})
DIRECTIVES = frozenset({"syntax", "escape", "check"})
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"<<(-?)(?:\"(\w+)\"|'(\w+)'|([a-zA-Z_]\w*))")


class DockerfileError(InvalidInput):
    """A Dockerfile that cannot be parsed: `line` and `column` are 1-based."""

    def __init__(self, message: str, line: int, column: int = 1, name: str = "Dockerfile"):
        super().__init__(f"{name}:{line}:{column}: {message}")
        self.line = line
        self.column = column
        self.reason = message


@dataclass(frozen=True)
class Heredoc:
    """One heredoc: its terminator word, body, and whether the body is expanded."""

    name: str
    content: str
    expand: bool = True
    chomp: bool = False


@dataclass(frozen=True)
class Instruction:
    """One instruction as written.

    `keyword` upper case; `flags` the leading `--name=value` options in order;
    `rest` the argument text after the flags (continuations joined, not expanded);
    `exec_args` the JSON array when the exec form was used, else None; `heredocs`
    in the order of their markers; `line` the 1-based first line; `original` the
    instruction text as one line (for history and error messages).
    """

    keyword: str
    rest: str
    line: int
    flags: tuple[tuple[str, str], ...] = ()
    exec_args: tuple[str, ...] | None = None
    heredocs: tuple[Heredoc, ...] = ()
    original: str = ""
    column: int = 1

    def flag(self, name: str, default: str | None = None) -> str | None:
        """The last value given for `--name` (None, or `default`, when absent)."""
        found = default
        for key, value in self.flags:
            if key == name:
                found = value
        return found

    def flag_all(self, name: str) -> list[str]:
        return [v for k, v in self.flags if k == name]


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile: its directives (lower-case names) and instructions in order."""

    directives: dict[str, str] = field(default_factory=dict, hash=False)
    instructions: tuple[Instruction, ...] = ()
    escape: str = "\\"


def parse(text: str, name: str = "Dockerfile") -> Dockerfile:
    """Parse a whole Dockerfile; DockerfileError (an InvalidInput) on a syntax error."""
    return _Parser(text, name).run()


class _Parser:
    def __init__(self, text: str, name: str) -> None:
        self.lines = text.replace("\r\n", "\n").split("\n")
        self.name = name
        self.i = 0
        self.escape = "\\"
        self.directives: dict[str, str] = {}

    def error(self, message: str, line: int, column: int = 1) -> DockerfileError:
        return DockerfileError(message, line, column, self.name)

    def run(self) -> Dockerfile:
        self._directives()
        out: list[Instruction] = []
        while self.i < len(self.lines):
            raw = self.lines[self.i]
            stripped = raw.strip()
            if not stripped or stripped.startswith("#"):
                self.i += 1
                continue
            out.append(self._instruction())
        return Dockerfile(dict(self.directives), tuple(out), self.escape)

    def _directives(self) -> None:
        while self.i < len(self.lines):
            m = _DIRECTIVE.match(self.lines[self.i].strip())
            if not m or m.group(1).lower() not in DIRECTIVES:
                return
            key, value = m.group(1).lower(), m.group(2)
            if key in self.directives:
                raise self.error(f"only one {key} parser directive can be used", self.i + 1)
            if key == "escape":
                if value not in ("\\", "`"):
                    raise self.error(f"invalid escape token '{value}' does not match ` or \\",
                                     self.i + 1, self.lines[self.i].index(value) + 1)
                self.escape = value
            self.directives[key] = value
            self.i += 1

    def _continues(self, line: str) -> tuple[bool, str]:
        body = line.rstrip(" \t")
        if body.endswith(self.escape):
            return True, body[: -len(self.escape)]
        return False, line

    def _instruction(self) -> Instruction:
        start = self.i
        first = self.lines[start]
        column = len(first) - len(first.lstrip()) + 1
        parts: list[str] = []
        while True:
            line = self.lines[self.i]
            self.i += 1
            more, body = self._continues(line)
            parts.append(body)
            if not more:
                break
            # comment and blank lines inside a continuation are dropped
            while self.i < len(self.lines) and (
                not self.lines[self.i].strip() or self.lines[self.i].lstrip().startswith("#")
            ):
                self.i += 1
            if self.i >= len(self.lines):
                break
        text = "".join(parts).strip()
        word, _, rest = text.partition(" ") if " " in text else (text, "", "")
        if "\t" in word:
            word, _, tail = word.partition("\t")
            rest = f"{tail} {rest}".strip()
        keyword = word.upper()
        if keyword not in KEYWORDS:
            raise self.error(f"unknown instruction: {word}", start + 1, column)
        rest = rest.strip()
        flags: tuple[tuple[str, str], ...] = ()
        if keyword in FLAGGED:
            flags, rest = self._flags(rest, start + 1, keyword)
        heredocs: tuple[Heredoc, ...] = ()
        if keyword in HEREDOC_KEYWORDS and "<<" in rest:
            heredocs = self._heredocs(rest, start + 1)
        exec_args = None if heredocs else _exec_form(rest)
        if not rest and keyword not in ("RUN",) and not heredocs:
            raise self.error(f"{keyword} requires at least one argument", start + 1, column)
        if keyword == "RUN" and not rest:
            raise self.error("RUN requires at least one argument", start + 1, column)
        return Instruction(keyword, rest, start + 1, flags, exec_args, heredocs,
                           text, column)

    def _flags(self, rest: str, line: int, keyword: str) -> tuple[tuple[tuple[str, str], ...], str]:
        flags: list[tuple[str, str]] = []
        while rest.startswith("--"):
            token, _, tail = rest.partition(" ")
            if token == "--":
                break
            name, eq, value = token[2:].partition("=")
            if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
                col = self.lines[line - 1].find(token) + 1
                raise self.error(f"{keyword}: malformed flag {token!r}", line, max(col, 1))
            flags.append((name, value if eq else "true"))
            rest = tail.lstrip()
        return tuple(flags), rest

    def _heredocs(self, rest: str, line: int) -> tuple[Heredoc, ...]:
        out: list[Heredoc] = []
        for m in _HEREDOC.finditer(rest):
            chomp = m.group(1) == "-"
            word = m.group(2) or m.group(3) or m.group(4)
            quoted = m.group(4) is None
            body: list[str] = []
            while True:
                if self.i >= len(self.lines):
                    col = self.lines[line - 1].find("<<") + 1
                    raise self.error(f"unterminated heredoc {word!r}", line, max(col, 1))
                current = self.lines[self.i]
                self.i += 1
                candidate = current.lstrip("\t") if chomp else current
                if candidate == word:
                    break
                body.append(candidate)
            content = "\n".join(body) + "\n" if body else ""
            out.append(Heredoc(word, content, expand=not quoted, chomp=chomp))
        return tuple(out)


def _exec_form(rest: str) -> tuple[str, ...] | None:
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(value)
