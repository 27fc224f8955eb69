"""Run one operation sequence on several front ends at once and compare them.

`Differential` owns one copy of the layers and one front end per name; the first name is
the reference (the kernel). `do(op, *args)` runs an operation everywhere and fails at the
first operation whose outcome (result or errno) differs; `check()` compares the merged
trees and the upper dirs. Every failure message carries the layer stack, the numbered
operation log with each front end's outcome, and the first differing entry.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .frontends import FACTORIES, FrontEnd, Options
from .fsutil import remove_tree
from .layers import Stack, build
from .origins import resolver
from .snapshot import Tree, content_digest, diff, errname, merged_tree, upper_tree

# Front-end methods the log shows an operation's result for (the others return None).
_VALUED = {"read", "lstat", "readlink", "listdir", "listxattr", "getxattr"}


@dataclass(frozen=True)
class Outcome:
    """What one operation gave on one front end: a (normalised) value or an errno."""

    value: Any = None
    errno: int | None = None

    def __str__(self) -> str:
        if self.errno is not None:
            return errname(self.errno)
        return "ok" if self.value is None else f"ok {self.value}"


def _normalise(op: str, value: Any) -> Any:
    if op == "read":
        return repr(value) if len(value) <= 24 else content_digest(value)
    if op == "lstat":
        st: os.stat_result = value
        is_dir = stat.S_ISDIR(st.st_mode)
        return (stat.filemode(st.st_mode), st.st_uid, st.st_gid,
                None if is_dir else st.st_size, None if is_dir else st.st_nlink)
    if op in ("listdir", "listxattr"):
        return tuple(sorted(value))
    return value


def apply(fe: FrontEnd, op: str, args: tuple[Any, ...]) -> Outcome:
    """Run `fe.<op>(*args)`; never raises for an OSError (that is an outcome)."""
    try:
        value = getattr(fe, op)(*args)
    except OSError as e:
        return Outcome(errno=e.errno)
    return Outcome(_normalise(op, value) if op in _VALUED else None)


# Position of the mode argument of the operations that take one (shown in octal).
_MODE_ARG = {"write_file": 2, "mkdir": 1, "mkfifo": 1, "chmod": 1}


def _show_args(op: str, args: tuple[Any, ...]) -> str:
    shown = []
    for i, a in enumerate(args):
        if _MODE_ARG.get(op) == i:
            shown.append(oct(a))
        elif isinstance(a, str | bytes) and len(a) > 48:
            shown.append(f"{a[:20]!r}...<{len(a)} {'bytes' if isinstance(a, bytes) else 'chars'}>")
        else:
            shown.append(repr(a))
    return ", ".join(shown)


class Differential:
    """The same union on several front ends; `names[0]` is the reference.

    Each front end gets its own copy of `stack`, built under `workspace/<name>`. Close it
    (or use it as a context manager): every mount is released, lazily if busy, and the
    copies are removed.
    """

    def __init__(self, stack: Stack, names: tuple[str, ...], workspace: str,
                 options: Options | None = None) -> None:
        self.stack = stack
        self.names = names
        self.workspace = workspace
        self.options = options or Options()
        self.log: list[tuple[str, dict[str, Outcome]]] = []
        self.frontends: dict[str, FrontEnd] = {}
        self._origins: dict[str, Callable[[bytes], str]] = {}
        try:
            for name in names:
                base = os.path.join(workspace, name)
                dirs = build(stack, base)
                # "kernel#2": a second instance of a front end (a self-check of the suite)
                factory = FACTORIES[name.partition("#")[0]]
                self.frontends[name] = factory(dirs, self.options, base)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Differential:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, keep: bool = False) -> None:
        """Release every front end; remove the copies unless `keep`."""
        errors = []
        for fe in self.frontends.values():
            try:
                fe.close()
            except OSError as e:  # keep going: the other mounts must go too
                errors.append(e)
        self.frontends = {}
        if not keep:
            for name in self.names:
                remove_tree(os.path.join(self.workspace, name))
        if errors:
            raise errors[0]

    @property
    def reference(self) -> FrontEnd:
        return self.frontends[self.names[0]]

    def do(self, op: str, *args: Any) -> Outcome:
        """Run one operation on every front end; fail if the outcomes differ.

        Returns the reference's outcome (so a scenario can also assert what the kernel did).
        """
        outcomes = {name: apply(fe, op, args) for name, fe in self.frontends.items()}
        self.log.append((f"{op}({_show_args(op, args)})", outcomes))
        ref = outcomes[self.names[0]]
        if any(o != ref for o in outcomes.values()):
            raise AssertionError(self.report(
                f"operation {len(self.log)} has different outcomes"))
        return ref

    def expect(self, outcome: Outcome, errno: int | None) -> None:
        """Assert what the reference did (a scenario's own claim about the kernel)."""
        if outcome.errno != errno:
            raise AssertionError(self.report(
                f"the reference gave {outcome}, the scenario expects "
                f"{errname(errno) if errno else 'success'}"))

    def check(self) -> None:
        """Compare merged trees and upper dirs of every front end with the reference."""
        ref_name = self.names[0]
        ref_merged = merged_tree(self.reference)
        ref_upper = self.upper(ref_name)
        for name in self.names[1:]:
            fe = self.frontends[name]
            found = diff("merged", ref_name, ref_merged, name, merged_tree(fe))
            found += diff("upperdir", ref_name, ref_upper, name, self.upper(name))
            if found:
                more = f"\n  ... and {len(found) - 12} more" if len(found) > 12 else ""
                raise AssertionError(self.report(
                    "trees differ after the last operation; first differences:\n  "
                    + "\n  ".join(found[:12]) + more))

    def upper(self, name: str) -> Tree:
        """The upper dir snapshot of front end `name` (origins as lower layer paths)."""
        dirs = self.frontends[name].dirs
        if name not in self._origins:  # lower layers never change: map them once
            self._origins[name] = resolver(dirs)
        return upper_tree(dirs.upperdir, self._origins[name])

    def report(self, headline: str) -> str:
        """The failure message: headline, layers, operation log with outcomes."""
        lines = [headline, f"front ends: {', '.join(self.names)} (reference {self.names[0]})",
                 f"options: {self.options}", "layers (top first):", self.stack.describe(),
                 "operations:"]
        if not self.log:
            lines.append("  (none)")
        for i, (text, outcomes) in enumerate(self.log, 1):
            ref = outcomes[self.names[0]]
            marks = "  ".join(f"{n}: {o}" for n, o in outcomes.items())
            flag = "   <-- differs" if any(o != ref for o in outcomes.values()) else ""
            lines.append(f"  {i:3}. {text}  =>  {marks}{flag}")
        return "\n".join(lines)
