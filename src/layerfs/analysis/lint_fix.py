"""Rewritten Dockerfile lines for lint findings: RUNs combined into one, instructions
moved, and the line range each instruction occupies.

A combined RUN joins the scripts with `&&` (a script that changes directory is run in a
subshell so that the next one starts where it would have), on one line when it is
short, else one command per line with `&& \\` continuations. RUNs with heredocs,
`--mount`/`--network` flags or a non-shell exec form are not combined (None).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from layerfs.analysis.lint_shell import script_of, split_and, split_commands, squeeze
from layerfs.build.parser import Dockerfile, Instruction

ONE_LINE = 100
_CONFIG_ONLY = frozenset({"LABEL", "EXPOSE", "MAINTAINER", "STOPSIGNAL", "HEALTHCHECK",
                          "CMD", "ENTRYPOINT", "ONBUILD", "VOLUME"})


def instruction_ends(text: str, df: Dockerfile) -> dict[int, int]:
    """First line -> last line of every instruction (continuations included, trailing
    blank and comment lines not)."""
    lines = text.replace("\r\n", "\n").split("\n")
    starts = [ins.line for ins in df.instructions]
    out: dict[int, int] = {}
    for k, first in enumerate(starts):
        last = (starts[k + 1] - 1) if k + 1 < len(starts) else len(lines)
        while last > first and (not lines[last - 1].strip()
                                or lines[last - 1].lstrip().startswith("#")):
            last -= 1
        out[first] = last
    return out


def run_script(ins: Instruction) -> str | None:
    """The RUN's script on one line when it can be joined with others, else None."""
    if ins.keyword != "RUN" or ins.heredocs or ins.flags:
        return None
    if ins.exec_args is not None and script_of(ins) == shlex.join(ins.exec_args):
        return None
    return squeeze(script_of(ins))


def combined_run(scripts: Sequence[str]) -> tuple[str, ...]:
    """One RUN running `scripts` in order, stopping at the first that fails."""
    parts: list[str] = []
    for k, script in enumerate(scripts):
        moves = any(c.argv[0] in ("cd", "pushd", "popd") for c in split_commands(script))
        if moves and k < len(scripts) - 1:
            script = f"({script})"
        parts.append(script)
    one = "RUN " + " && ".join(parts)
    if len(one) <= ONE_LINE:
        return (one,)
    cmds = [c for part in parts for c in split_and(part)]
    return tuple([f"RUN {cmds[0]} && \\"]
                 + [f"    {c} && \\" for c in cmds[1:-1]]
                 + [f"    {cmds[-1]}"])


def combine(instructions: Sequence[Instruction], extra: str | None = None
            ) -> tuple[tuple[str, ...], str]:
    """The rewritten lines for `instructions` (a contiguous run of one stage): all RUNs
    combined into one, appended `extra` command, other instructions moved before it, and
    a note naming the moved ones. No lines, and a note saying which, when a RUN cannot
    be combined."""
    scripts: list[str] = []
    moved: list[Instruction] = []
    for ins in instructions:
        if ins.keyword == "RUN":
            script = run_script(ins)
            if script is None:
                return (), (f"line {ins.line} cannot be combined automatically (a heredoc, "
                            "flags or an exec form without a shell)")
            scripts.append(script)
        else:
            moved.append(ins)
    if extra:
        scripts.append(extra)
    lines = tuple(squeeze(i.original) for i in moved) + combined_run(scripts)
    note = ""
    effective = [i for i in moved if i.keyword not in _CONFIG_ONLY]
    if effective:
        named = ", ".join(f"line {i.line}" for i in effective)
        note = (f"{named} moved before the combined RUN: check that the earlier commands "
                "do not depend on where it was")
    return lines, note


def join_lines(lines: Sequence[str]) -> str:
    """Rewritten lines as one logical line each (continuations joined), for comparison."""
    text = "\n".join(lines).replace("\\\n", " ")
    return "\n".join(" ".join(line.split()) for line in text.split("\n"))
