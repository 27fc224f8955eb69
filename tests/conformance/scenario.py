"""Named scenarios as data: a layer `Stack`, options, and a list of steps.

A step is one front-end operation plus what the kernel is expected to answer (success,
an errno, or `ANY` when the scenario makes no claim); `CHECK` compares the trees at that
point. `run` plays the steps on a `Differential`, then compares, remounts and compares
again (so state that lived only in memory is caught).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .harness import Differential
from .layers import Stack

ANY = -1  # the scenario makes no claim about the kernel's answer


@dataclass(frozen=True)
class Step:
    """`op(*args)` on every front end; `errno` 0 = must succeed on the kernel."""

    op: str
    args: tuple[Any, ...] = ()
    errno: int = 0


def ok(op: str, *args: Any) -> Step:
    """A step the kernel must accept."""
    return Step(op, args)


def fails(code: int, op: str, *args: Any) -> Step:
    """A step the kernel must refuse with errno `code`."""
    return Step(op, args, code)


def probe(op: str, *args: Any) -> Step:
    """A step compared between front ends only (no claim about the kernel's answer)."""
    return Step(op, args, ANY)


CHECK = Step("check")
REMOUNT = ok("remount")


@dataclass(frozen=True)
class Scenario:
    """A named operation sequence on a layer stack."""

    name: str
    stack: Stack
    steps: tuple[Step, ...]
    options: dict[str, bool] = field(default_factory=dict)


def run(d: Differential, steps: tuple[Step, ...]) -> None:
    """Play `steps`, then compare, remount and compare again."""
    for step in steps:
        if step.op == "check":
            d.check()
            continue
        outcome = d.do(step.op, *step.args)
        if step.errno != ANY:
            d.expect(outcome, step.errno or None)
    d.check()
    d.do("remount")
    d.check()
