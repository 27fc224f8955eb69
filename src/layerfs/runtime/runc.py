"""The runc driver: an OCI runtime run as a program (`runc --root STATE ...`).

Every store has its own runc state root (`<root>/runtime/runc`), so containers of two
stores never see each other. `launch` is `runc run --detach --pid-file`: runc creates
and starts the container and exits, leaving the container's init process to the
caller, which must be a child subreaper (PR_SET_CHILD_SUBREAPER) to wait for it. The
container's stdio are the fds given (runc passes them through), or, with a terminal, a
pty whose master runc sends to `console_socket`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from typing import IO

from layerfs.errors import Unsupported


@dataclass(frozen=True)
class Launched:
    """A started container: `pid` its init process (host pid), which the launcher
    waits for (`wait_pid`, the same process for runc; the helper for chroot)."""

    pid: int
    wait_pid: int


def runc_binary() -> str | None:
    """The runc program, or None when it is not installed."""
    return shutil.which("runc")


def signal_number(sig: str | int) -> int:
    """SIGTERM, TERM, 15 → 15; InvalidInput-like ValueError for an unknown name."""
    if isinstance(sig, int):
        return sig
    text = sig.upper().removeprefix("SIG")
    if text.isdigit():
        return int(text)
    try:
        return int(signal.Signals[f"SIG{text}"])
    except KeyError:
        raise ValueError(f"invalid signal: {sig}") from None


class Runc:
    """runc with the state root of one store."""

    name = "runc"

    def __init__(self, state_root: str) -> None:
        binary = runc_binary()
        if binary is None:
            raise Unsupported("runc is not installed (apt-get install runc)")
        self.binary = binary
        self.state_root = state_root
        os.makedirs(state_root, mode=0o700, exist_ok=True)

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", self.state_root, *args]

    def launch(
        self,
        cid: str,
        bundle: str,
        stdio: tuple[int | IO[bytes], int | IO[bytes], int | IO[bytes]],
        console_socket: str | None = None,
    ) -> Launched:
        """`runc run --detach`; the init pid. RuntimeError with runc's message on failure
        (the container is deleted again then)."""
        pid_file = os.path.join(bundle, "init.pid")
        log = os.path.join(bundle, "runc.log")
        for stale in (pid_file, log):
            if os.path.exists(stale):
                os.unlink(stale)
        self.delete(cid)  # a leftover of an earlier run that nobody deleted
        args = ["--log", log, "--log-format", "json", "run", "--detach", "--pid-file", pid_file]
        if console_socket:
            args += ["--console-socket", console_socket]
        proc = subprocess.run(
            [*self.argv(*args), "--bundle", bundle, cid],
            stdin=stdio[0],
            stdout=stdio[1],
            stderr=stdio[2],
            check=False,
        )
        if proc.returncode != 0:
            self.delete(cid)
            raise RuntimeError(f"runc: {_last_error(log) or f'exit status {proc.returncode}'}")
        with open(pid_file) as f:
            pid = int(f.read().strip())
        return Launched(pid, pid)

    def state(self, cid: str) -> dict[str, object] | None:
        """`runc state`: {"status": "running"|"stopped"|..., "pid": ...}; None if unknown."""
        proc = subprocess.run(self.argv("state", cid), capture_output=True, check=False)
        if proc.returncode != 0:
            return None
        return json.loads(proc.stdout)  # type: ignore[no-any-return]

    def kill(self, cid: str, sig: int, pid: int) -> None:
        """Send `sig` to the container's init (`runc kill`; the pid when runc lost it)."""
        proc = subprocess.run(self.argv("kill", cid, str(sig)), capture_output=True, check=False)
        if proc.returncode != 0 and pid > 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def delete(self, cid: str) -> None:
        """`runc delete --force` (idempotent: an unknown container is fine)."""
        subprocess.run(self.argv("delete", "--force", cid), capture_output=True, check=False)

    def exec_argv(
        self,
        cid: str,
        pid: int,
        args: list[str],
        *,
        tty: bool,
        env: list[str],
        cwd: str | None,
        user: tuple[int, int] | None,
        detach: bool,
    ) -> tuple[list[str], dict[str, str] | None]:
        """The argv of `runc exec` running `args` in container `cid` (env: None, the
        variables go as --env)."""
        del pid  # runc finds the container by id
        opts: list[str] = ["exec"]
        if tty:
            opts.append("--tty")
        if detach:
            opts.append("--detach")
        for e in env:
            opts += ["--env", e]
        if cwd:
            opts += ["--cwd", cwd]
        if user is not None:
            opts += ["--user", f"{user[0]}:{user[1]}"]
        return [*self.argv(*opts), cid, *args], None


def _last_error(log: str) -> str:
    """The last error message in runc's json log."""
    message = ""
    try:
        with open(log) as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("level") in ("error", "fatal"):
                    message = str(entry.get("msg", ""))
    except OSError:
        return ""
    return message
