"""Stages of a Dockerfile: the global ARGs before the first FROM, then one stage per
FROM (`AS name`), and which stages a target needs (its FROM chain and `COPY --from`).
"""

from __future__ import annotations

from dataclasses import dataclass

from layerfs.build.parser import Dockerfile, DockerfileError, Instruction
from layerfs.build.words import expand_word
from layerfs.errors import InvalidInput


@dataclass(frozen=True)
class Stage:
    """One stage: its FROM instruction, base reference (unexpanded), name (lower case,
    "" when unnamed) and the instructions after FROM."""

    index: int
    name: str
    base: str
    origin: Instruction
    instructions: tuple[Instruction, ...]

    @property
    def label(self) -> str:
        return self.name or f"stage-{self.index}"


@dataclass(frozen=True)
class Plan:
    """The global ARG instructions and the stages, in file order."""

    global_args: tuple[Instruction, ...]
    stages: tuple[Stage, ...]

    def find(self, ref: str) -> Stage | None:
        """The stage named `ref` (case-insensitive) or numbered `ref`."""
        for s in self.stages:
            if s.name and s.name == ref.lower():
                return s
        if ref.isdigit() and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        return None


def split(df: Dockerfile) -> Plan:
    """Stages of a parsed Dockerfile; DockerfileError when something precedes FROM that
    may not, or when there is no FROM."""
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    current: Instruction | None = None
    body: list[Instruction] = []

    def close() -> None:
        if current is None:
            return
        words = current.rest.split()
        name = ""
        if len(words) == 3 and words[1].lower() == "as":
            name = words[2].lower()
        elif len(words) != 1:
            raise DockerfileError("FROM requires either one or three arguments",
                                  current.line, current.column)
        stages.append(Stage(len(stages), name, words[0], current, tuple(body)))

    for ins in df.instructions:
        if ins.keyword == "FROM":
            close()
            current, body = ins, []
        elif current is None:
            if ins.keyword != "ARG":
                raise DockerfileError(f"{ins.keyword} before the first FROM (only ARG may"
                                      " come first)", ins.line, ins.column)
            global_args.append(ins)
        else:
            body.append(ins)
    close()
    if not stages:
        raise InvalidInput("the Dockerfile has no FROM instruction")
    names = [s.name for s in stages if s.name]
    for n in names:
        if names.count(n) > 1:
            raise InvalidInput(f"duplicate stage name {n!r}")
    return Plan(tuple(global_args), tuple(stages))


def needed(plan: Plan, target: Stage, global_env: dict[str, str], escape: str) -> list[Stage]:
    """The stages `target` depends on (FROM another stage, COPY/ADD --from=stage), and
    itself, in file order. A reference to a later stage is an error."""
    wanted: set[int] = set()
    todo = [target]
    while todo:
        stage = todo.pop()
        if stage.index in wanted:
            continue
        wanted.add(stage.index)
        refs = [expand_word(stage.base, global_env, escape)]
        refs += [ins.flag("from") or "" for ins in stage.instructions
                 if ins.keyword in ("COPY", "ADD") and ins.flag("from")]
        for ref in refs:
            dep = plan.find(ref)
            if dep is None:
                continue
            if dep.index >= stage.index:
                raise InvalidInput(f"stage {stage.label} refers to stage {ref!r} defined after it")
            todo.append(dep)
    return [s for s in plan.stages if s.index in wanted]
