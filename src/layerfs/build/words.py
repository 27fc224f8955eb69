"""Variable substitution and word splitting as the Dockerfile frontend does it
(BuildKit's shell/lex.go): `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`,
`${VAR:+word}`, `${VAR+word}`, `${VAR:?message}`; single quotes keep text literal,
double quotes allow substitution; the escape character quotes the next character.

`expand_word` substitutes and removes quotes without splitting (WORKDIR, USER...);
`split_words` also splits on unquoted blanks (ENV/LABEL pairs, COPY sources, EXPOSE).
"""

from __future__ import annotations

from collections.abc import Mapping

from layerfs.errors import InvalidInput

_NAME_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_NAME_REST = _NAME_FIRST + "0123456789"


def expand_word(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """`text` with variables substituted and quotes removed, as one word."""
    return "".join(_Lexer(text, env, escape).words(split=False))


def substitute(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Only the variables of `text` substituted (quotes and other characters kept): an
    unquoted heredoc's body; `escape` before `$` keeps the `$`."""
    lexer = _Lexer(text, env, escape)
    out: list[str] = []
    while lexer.pos < len(text):
        ch = lexer.take()
        if ch == escape and lexer.peek() == "$":
            out.append(lexer.take())
        elif ch == "$":
            out.append(lexer._dollar())
        else:
            out.append(ch)
    return "".join(out)


def split_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """`text` substituted and split on unquoted blanks (quotes removed)."""
    return _Lexer(text, env, escape).words(split=True)


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self.text = text
        self.env = env
        self.escape = escape
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        ch = self.peek()
        self.pos += 1
        return ch

    def words(self, *, split: bool) -> list[str]:
        out: list[str] = []
        word: list[str] = []
        started = False
        while self.pos < len(self.text):
            ch = self.peek()
            if split and ch in " \t\n":
                self.pos += 1
                if started:
                    out.append("".join(word))
                    word, started = [], False
                continue
            started = True
            if ch == "'":
                self.pos += 1
                word.append(self._until("'"))
            elif ch == '"':
                self.pos += 1
                word.append(self._double())
            elif ch == self.escape:
                self.pos += 1
                word.append(self.take())
            elif ch == "$":
                self.pos += 1
                word.append(self._dollar())
            else:
                word.append(self.take())
        if started or not split:
            out.append("".join(word))
        return out

    def _until(self, end: str) -> str:
        stop = self.text.find(end, self.pos)
        if stop < 0:
            raise InvalidInput(f"unexpected end of statement while looking for matching {end}")
        value = self.text[self.pos : stop]
        self.pos = stop + 1
        return value

    def _double(self) -> str:
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise InvalidInput('unexpected end of statement while looking for matching "')
            ch = self.take()
            if ch == '"':
                return "".join(out)
            if ch == self.escape and self.peek() in ('"', "$", self.escape):
                out.append(self.take())
            elif ch == "$":
                out.append(self._dollar())
            else:
                out.append(ch)

    def _name(self) -> str:
        start = self.pos
        if self.peek() and self.peek() in _NAME_FIRST:
            self.pos += 1
            while self.peek() and self.peek() in _NAME_REST:
                self.pos += 1
        return self.text[start : self.pos]

    def _dollar(self) -> str:
        if self.peek() == "{":
            self.pos += 1
            return self._braced()
        name = self._name()
        if not name:
            return "$"
        return self.env.get(name, "")

    def _braced(self) -> str:
        name = self._name()
        if not name:
            raise InvalidInput(f"bad substitution in {self.text!r}")
        ch = self.take()
        if ch == "}":
            return self.env.get(name, "")
        colon = ch == ":"
        if colon:
            ch = self.take()
        if ch not in "-+?":
            raise InvalidInput(f"unsupported modifier ({ch}) in substitution of {self.text!r}")
        word = self._modifier_word()
        value = self.env.get(name)
        unset = value is None or (colon and value == "")
        if ch == "-":
            return word if unset else value or ""
        if ch == "+":
            return "" if unset else word
        if unset:
            raise InvalidInput(f"{name}: {word or 'is not allowed to be unset'}")
        return value or ""

    def _modifier_word(self) -> str:
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise InvalidInput(f"missing '}}' in substitution of {self.text!r}")
            ch = self.take()
            if ch == "}":
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
            elif ch == self.escape:
                out.append(self.take())
            elif ch == "'":
                out.append(self._until("'"))
            elif ch == '"':
                out.append(self._double())
            else:
                out.append(ch)
