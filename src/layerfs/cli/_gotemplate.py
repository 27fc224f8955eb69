"""A small subset of Go's text/template, enough for `--format` as docker users write it.

Supported: `{{.Field.Sub}}` paths on dicts and lists (`.` alone is the current value),
`{{json .X}}`, `{{index .X "key"}}` / `{{index .X 0}}`, `{{join .X ","}}`,
`{{upper .X}}`, `{{lower .X}}`, `{{len .X}}`, `{{range .X}}…{{end}}` and
`{{if .X}}…{{else}}…{{end}}`, `{{println}}`; `\\n` and `\\t` escapes in the format are
honoured like docker's. Values print as Go prints them (`[a b]`, `map[k:v]`, `true`).
A malformed template raises InvalidInput naming the action.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

from layerfs.errors import InvalidInput

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
_MISSING = object()


@dataclass(frozen=True)
class _Node:
    kind: str  # "text", "expr", "range", "if"
    value: str
    body: tuple[_Node, ...] = ()
    orelse: tuple[_Node, ...] = ()


def _parse(
    tokens: list[tuple[str, str]], pos: int, stop: tuple[str, ...]
) -> tuple[list[_Node], int, str]:
    nodes: list[_Node] = []
    while pos < len(tokens):
        kind, value = tokens[pos]
        pos += 1
        if kind == "text":
            nodes.append(_Node("text", value))
            continue
        word = value.split(None, 1)[0] if value else ""
        if word in stop:
            return nodes, pos, word
        if word in ("range", "if"):
            arg = value[len(word) :].strip()
            body, pos, ended = _parse(tokens, pos, ("end", "else"))
            orelse: list[_Node] = []
            if ended == "else":
                orelse, pos, ended = _parse(tokens, pos, ("end",))
            if ended != "end":
                raise InvalidInput(f"template: {{{{{value}}}}} has no {{{{end}}}}")
            nodes.append(_Node(word, arg, tuple(body), tuple(orelse)))
        elif word in ("end", "else"):
            raise InvalidInput(f"template: unexpected {{{{{value}}}}}")
        else:
            nodes.append(_Node("expr", value))
    if stop:
        raise InvalidInput(f"template: missing {{{{{stop[0]}}}}}")
    return nodes, pos, ""


def _tokens(template: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    last = 0
    for m in _ACTION.finditer(template):
        if m.start() > last:
            out.append(("text", template[last : m.start()]))
        out.append(("action", m.group(1)))
        last = m.end()
    if last < len(template):
        out.append(("text", template[last:]))
    return out


def _path(value: Any, path: str) -> Any:
    if path == ".":
        return value
    for part in path.strip(".").split("."):
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        else:
            return _MISSING
    return value


def _arg(token: str, dot: Any) -> Any:
    if token.startswith("."):
        return _path(dot, token)
    if token.startswith('"') or token.startswith("'") or token.startswith("`"):
        return token[1:-1]
    if re.fullmatch(r"-?\d+", token):
        return int(token)
    raise InvalidInput(f"template: cannot evaluate {token!r}")


def _split(expr: str) -> list[str]:
    try:
        lexer = shlex.shlex(expr, posix=False)
        lexer.whitespace_split = True
        return list(lexer)
    except ValueError as e:
        raise InvalidInput(f"template: {{{{{expr}}}}}: {e}") from None


def _eval(expr: str, dot: Any) -> Any:
    words = _split(expr)
    if not words:
        raise InvalidInput("template: empty action {{}}")
    fn, args = words[0], [_arg(w, dot) for w in words[1:]]
    if fn.startswith(".") or fn.startswith('"'):
        return _arg(fn, dot)
    if fn == "json":
        return json.dumps(None if args[0] is _MISSING else args[0], separators=(",", ":"))
    if fn == "index":
        value = args[0]
        for key in args[1:]:
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                return _MISSING
        return value
    if fn == "join":
        return args[1].join(str(v) for v in (args[0] or []))
    if fn in ("upper", "lower"):
        return getattr(_show(args[0]), fn)()
    if fn == "len":
        return len(args[0] or [])
    if fn == "println":
        return " ".join(_show(a) for a in args) + "\n"
    raise InvalidInput(f"template: function {fn!r} not defined")


def _show(value: Any) -> str:
    if value is _MISSING or value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_show(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def _truthy(value: Any) -> bool:
    return value is not _MISSING and bool(value)


def _run(nodes: tuple[_Node, ...] | list[_Node], dot: Any, out: list[str]) -> None:
    for node in nodes:
        if node.kind == "text":
            out.append(node.value)
        elif node.kind == "expr":
            out.append(_show(_eval(node.value, dot)))
        elif node.kind == "if":
            _run(node.body if _truthy(_eval(node.value, dot)) else node.orelse, dot, out)
        else:
            items = _eval(node.value, dot)
            seq = list(items.values()) if isinstance(items, dict) else (items or [])
            if not _truthy(items):
                _run(node.orelse, dot, out)
            for item in seq if isinstance(seq, list) else []:
                _run(node.body, item, out)


def render(template: str, value: Any) -> str:
    """Render `template` against `value` (dicts/lists as from JSON)."""
    template = template.replace("\\n", "\n").replace("\\t", "\t")
    nodes, _, _ = _parse(_tokens(template), 0, ())
    out: list[str] = []
    _run(nodes, value, out)
    return "".join(out)
