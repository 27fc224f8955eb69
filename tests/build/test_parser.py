"""Dockerfile parsing: directives, continuations, comments, heredocs, forms, errors."""

from __future__ import annotations

import pytest

from layerfs.build.args import ArgScope, global_scope, parse_build_args
from layerfs.build.parser import DockerfileError, parse
from layerfs.build.words import expand_word, split_words, substitute


def test_directives_continuations_comments() -> None:
    df = parse(
        "# syntax=docker/dockerfile:1\n# escape=`\n\nFROM busybox\n"
        "RUN echo a `\n  # a comment inside\n\n  && echo b\n# trailing comment\n"
        'CMD ["sh", "-c"]\n'
    )
    assert df.directives == {"syntax": "docker/dockerfile:1", "escape": "`"}
    assert df.escape == "`"
    run = df.instructions[1]
    assert run.keyword == "RUN" and run.rest == "echo a   && echo b" and run.line == 5
    assert df.instructions[2].exec_args == ("sh", "-c")


def test_directive_after_instruction_is_a_comment() -> None:
    df = parse("FROM x\n# escape=`\nRUN a \\\n b\n")
    assert df.directives == {} and df.instructions[1].rest == "a  b"


def test_heredocs() -> None:
    df = parse("FROM x\nRUN <<EOF\necho hi\necho there\nEOF\n"
               "COPY <<-'A' /a\n\tliteral $X\n\tA\nRUN cat <<X > /f\nbody\nX\n")
    run, copy, run2 = df.instructions[1:]
    assert run.heredocs[0].content == "echo hi\necho there\n" and run.heredocs[0].expand
    assert copy.heredocs[0].content == "literal $X\n" and not copy.heredocs[0].expand
    assert run2.heredocs[0].name == "X" and run2.rest == "cat <<X > /f"


def test_flags_and_shell_form() -> None:
    ins = parse("FROM x\nCOPY --from=build --chown=1:2 a b /c/\n").instructions[1]
    assert ins.flags == (("from", "build"), ("chown", "1:2")) and ins.rest == "a b /c/"
    assert ins.exec_args is None
    bad_json = parse('FROM x\nCMD ["sh", 1]\n').instructions[1]
    assert bad_json.exec_args is None  # not a list of strings: shell form


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("FROM x\n  FORM y\n", 2, 3, "unknown instruction: FORM"),
        ("FROM x\nRUN <<EOF\necho\n", 2, 5, "unterminated heredoc"),
        ("# escape=x\nFROM y\n", 1, 10, "invalid escape token"),
        ("FROM x\nCOPY --Bad a b\n", 2, 6, "malformed flag"),
        ("FROM\n", 1, 1, "FROM requires at least one argument"),
    ],
)
def test_errors_name_line_and_column(text: str, line: int, column: int, fragment: str) -> None:
    with pytest.raises(DockerfileError) as e:
        parse(text)
    assert (e.value.line, e.value.column) == (line, column)
    assert fragment in str(e.value) and str(e.value).startswith(f"Dockerfile:{line}:{column}:")


def test_word_expansion() -> None:
    env = {"A": "1", "E": ""}
    assert expand_word("${A}x$A'$A'\"$A\"", env) == "1x1$A1"
    assert expand_word("${B:-def}${E:-e}${E-f}${A:+set}${B+no}", env) == "defeset"
    assert expand_word("\\$A", env) == "$A"
    assert split_words('K="a b" L=c\\ d M', env) == ["K=a b", "L=c d", "M"]
    assert substitute('say "$A" \'${B:-x}\' \\$A', env) == 'say "1" \'x\' $A'


def test_arg_scoping() -> None:
    g = global_scope({"V": "cli"}).declare("V", "def").declare("BASE", "alpine")
    assert g.values["V"] == "cli" and g.values["BASE"] == "alpine"
    assert g.values["TARGETOS"] == "linux"
    stage = g.stage_scope()
    assert stage.values == {}
    stage = stage.declare("BASE", None).declare("NEW", None)
    assert stage.values == {"BASE": "alpine", "NEW": None}
    assert stage.run_env() == {"BASE": "alpine"}
    assert ArgScope({"HTTP_PROXY": "p"}).run_env() == {"HTTP_PROXY": "p"}
    assert ArgScope({"HTTP_PROXY": "p"}).cache_scope() == {}
    assert parse_build_args(["A=1", "B", "C"], {"B": "env"}) == {"A": "1", "B": "env"}
