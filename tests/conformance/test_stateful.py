"""Random operation sequences (a hypothesis state machine) on a random 2-3 layer stack.

Every operation runs on the kernel and on the front end under test; the outcomes must be
equal at every step, and the merged trees and upper dirs whenever the machine checks
(a `check` rule, after each remount, and at the end). A failure shows the layer stack,
the numbered operations with each front end's outcome and the first differing entry;
hypothesis then shrinks it to a minimal sequence.

Examples: `LAYERFS_CONFORMANCE_EXAMPLES` (default 500) for the library. The FUSE front end
runs a fifth of that: each of its mounts starts a server process (about 0.25 s, against
5 ms for a kernel mount), and every example mounts at least once; the FUSE server is a thin
adapter over the library, which gets the full count. The kernel-vs-kernel self-check also
runs a fifth.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from . import strategies as s
from .frontends import REFERENCE, Options
from .harness import Differential
from .layers import Stack

EXAMPLES = int(os.environ.get("LAYERFS_CONFORMANCE_EXAMPLES", "500"))


class UnionMachine(RuleBasedStateMachine):
    """One union on the kernel and on `other`; rules are front-end operations."""

    other = "library"
    workspace = "/nonexistent"

    def __init__(self) -> None:
        super().__init__()
        self.d: Differential | None = None
        self.ws = ""
        self.failed = False

    def _do(self, op: str, *args: Any) -> None:
        assert self.d is not None
        try:
            self.d.do(op, *args)
        except AssertionError:
            self.failed = True
            raise

    @initialize(stack=s.stacks, redirect_dir=s.st.booleans())
    def mount(self, stack: Stack, redirect_dir: bool) -> None:
        self.ws = tempfile.mkdtemp(dir=self.workspace)
        self.d = Differential(stack, (REFERENCE, self.other), self.ws, Options(redirect_dir))

    @rule(path=s.paths, data=s.data, mode=s.file_modes)
    def write_file(self, path: str, data: bytes, mode: int) -> None:
        self._do("write_file", path, data, mode)

    @rule(path=s.paths, data=s.data)
    def append(self, path: str, data: bytes) -> None:
        self._do("append", path, data)

    @rule(path=s.paths, length=s.lengths)
    def truncate(self, path: str, length: int) -> None:
        self._do("truncate", path, length)

    @rule(path=s.paths, mode=s.dir_modes)
    def mkdir(self, path: str, mode: int) -> None:
        self._do("mkdir", path, mode)

    @rule(link_target=s.targets, path=s.paths)
    def symlink(self, link_target: str, path: str) -> None:
        self._do("symlink", link_target, path)

    @rule(path=s.paths)
    def mkfifo(self, path: str) -> None:
        self._do("mkfifo", path, 0o644)

    @rule(path=s.paths)
    def unlink(self, path: str) -> None:
        self._do("unlink", path)

    @rule(path=s.paths)
    def rmdir(self, path: str) -> None:
        self._do("rmdir", path)

    @rule(old=s.paths, new=s.paths)
    def rename(self, old: str, new: str) -> None:
        self._do("rename", old, new)

    @rule(old=s.paths, new=s.paths)
    def link(self, old: str, new: str) -> None:
        self._do("link", old, new)

    @rule(path=s.paths, mode=s.file_modes)
    def chmod(self, path: str, mode: int) -> None:
        self._do("chmod", path, mode)

    @rule(path=s.paths, uid=s.ids, gid=s.ids)
    def chown(self, path: str, uid: int, gid: int) -> None:
        self._do("chown", path, uid, gid)

    @rule(path=s.paths, ns=s.times)
    def utime(self, path: str, ns: tuple[int, int]) -> None:
        self._do("utime", path, ns)

    @rule(path=s.paths, name=s.xattr_names, value=s.xattr_values)
    def setxattr(self, path: str, name: str, value: bytes) -> None:
        self._do("setxattr", path, name, value)

    @rule(path=s.paths, name=s.xattr_names)
    def removexattr(self, path: str, name: str) -> None:
        self._do("removexattr", path, name)

    @rule(path=s.paths)
    def read(self, path: str) -> None:
        self._do("read", path)

    @rule(path=s.paths)
    def lookups(self, path: str) -> None:
        for op in ("lstat", "readlink", "listdir", "listxattr"):
            self._do(op, path)

    @rule()
    def remount(self) -> None:
        self._do("remount")
        self.check()

    @rule()
    def check(self) -> None:
        assert self.d is not None
        try:
            self.d.check()
        except AssertionError:
            self.failed = True
            raise

    def teardown(self) -> None:
        if self.d is None:
            return
        try:
            if not self.failed:
                self.check()
        finally:
            self.d.close()
            os.rmdir(self.ws)


@pytest.mark.root
def test_random_sequences(frontend: str, tmp_path: os.PathLike[str]) -> None:
    examples = EXAMPLES if frontend == "library" else max(1, EXAMPLES // 5)

    class Machine(UnionMachine):
        other = frontend
        workspace = os.fspath(tmp_path)

    run_state_machine_as_test(Machine, settings=settings(
        max_examples=examples,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much],
    ))
