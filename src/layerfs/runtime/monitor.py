"""The monitor of a running container (conmon's job, in small): start it, wait for it,
record how it ended, clean up.

The monitor holds `containers/<id>/monitor.lock` (a flock) for as long as it watches:
a free lock with the record still saying "running" means the monitor died (kill -9),
which `lifecycle.refresh` repairs. It is a child subreaper, so the container's init
(left by `runc run --detach`) is its child and its exit status is known.

Detached (`layerfs run -d`, `start`): `spawn_monitor` double-forks (no exec: the modules
are already loaded) a process in a new session that reports "ok" or "error: ..." on a
pipe once the container runs, then outlives the `layerfs` command. The container's stdout and stderr
go straight to `container.log` (a pty's output is copied there with `-t`).
Attached (`layerfs run` without -d): the same steps in the `layerfs` process, the
output copied to the terminal and to the log.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from layerfs.errors import Conflict
from layerfs.runtime import containers as records
from layerfs.runtime.containers import EXITED, LOG, RUNNING, Container
from layerfs.runtime.rootfs import umount_rootfs
from layerfs.runtime.runc import Launched
from layerfs.store.paths import StorePaths

PR_SET_CHILD_SUBREAPER = 36
MONITOR_LOCK = "monitor.lock"


def monitor_lock_path(store, cid: str) -> str:  # type: ignore[no-untyped-def]
    return records.path_of(store, cid, MONITOR_LOCK)


@contextlib.contextmanager
def holding_monitor_lock(store, cid: str) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """Take the monitor lock without waiting; Conflict if another monitor holds it."""
    fd = os.open(monitor_lock_path(store, cid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(f"container {cid[:12]} is already running") from None
        yield fd
    finally:
        os.close(fd)


def monitor_alive(store, cid: str) -> bool:  # type: ignore[no-untyped-def]
    """True while a monitor holds the container's monitor lock."""
    from layerfs.store.lock import is_free

    return not is_free(monitor_lock_path(store, cid))


def process_start(pid: int) -> int:
    """The start time (clock ticks since boot) of a live, non-zombie process; 0 when
    there is none. A pid and this number name one process, even across pid reuse."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0
    return 0 if fields[0] == "Z" else int(fields[19])


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def wait_exit(launched: Launched) -> int | None:
    """Reap children until `launched.wait_pid` exits; its exit code (128+N for signal N).
    None when it is not our child (then its end is only observed)."""
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            while os.path.exists(f"/proc/{launched.wait_pid}"):
                time.sleep(0.05)
            return None
        except InterruptedError:
            continue
        if pid == launched.wait_pid:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code


def _pump(src: int, sinks: list[int]) -> None:
    while True:
        try:
            chunk = os.read(src, 65536)
        except OSError:
            break
        if not chunk:
            break
        for fd in sinks:
            with contextlib.suppress(OSError):
                os.write(fd, chunk)
    os.close(src)


def _receive_console(server: socket.socket) -> int:
    server.settimeout(30)
    conn, _ = server.accept()
    with conn:
        _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
    return fds[0]


class Session:
    """One run of one container under this monitor (see the module docstring)."""

    def __init__(self, store, c: Container, runtime, attached: bool) -> None:  # type: ignore[no-untyped-def]
        self.store = store
        self.c = c
        self.runtime = runtime
        self.attached = attached
        self.bundle = records.container_dir(store, c.id)
        self.threads: list[threading.Thread] = []
        self.readers: list[int] = []  # pipe ends the pump threads read (and close)
        self.child_ends: list[int] = []  # fds given to the container, closed once it runs
        self.keep: list[int] = []  # fds held open for the container's life (stdin, pty)
        self.log_fd = -1

    def _stdio(self, log_fd: int) -> tuple[int | IO[bytes], int | IO[bytes], int | IO[bytes]]:
        cfg = self.c.config
        if self.attached:
            stdin: int | IO[bytes] = sys.stdin.buffer if cfg.stdin else subprocess.DEVNULL
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            for src, dest in ((out_r, sys.stdout.fileno()), (err_r, sys.stderr.fileno())):
                t = threading.Thread(target=_pump, args=(src, [dest, log_fd]), daemon=True)
                self.threads.append(t)
                self.readers.append(src)
            self.child_ends += [out_w, err_w]
            return stdin, out_w, err_w
        if cfg.stdin and not cfg.tty:
            r, w = os.pipe()
            self.child_ends.append(r)
            self.keep.append(w)  # stdin stays open (docker -di) until the monitor ends
            return r, log_fd, log_fd
        return subprocess.DEVNULL, log_fd, log_fd

    def launch(self) -> Launched:
        """Start the container; the state becomes "running". Raises on failure (the
        rootfs is unmounted and the state keeps its previous status with the error)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        self.log_fd = os.open(os.path.join(self.bundle, LOG), flags, 0o640)
        try:
            launched = self._launch(self._stdio(self.log_fd), self.log_fd)
        except BaseException as e:
            for fd in self.readers + self.keep + [self.log_fd]:
                os.close(fd)
            umount_rootfs(self.store, self.c.id)
            records.set_state(self.store, self.c.id, error=str(e))
            raise
        finally:
            for fd in self.child_ends:  # the container has its copies
                os.close(fd)
        for t in self.threads:
            t.start()
        records.set_state(
            self.store,
            self.c.id,
            status=RUNNING,
            pid=launched.pid,
            pid_start=process_start(launched.pid),
            started_at=time.time(),
            finished_at=0.0,
            exit_code=None,
            runtime=self.runtime.name,
            error="",
        )
        return launched

    def _launch(self, stdio, log_fd: int) -> Launched:  # type: ignore[no-untyped-def]
        if not self.c.config.tty:
            return self.runtime.launch(self.c.id, self.bundle, stdio)  # type: ignore[no-any-return]
        with tempfile.TemporaryDirectory(prefix="layerfs-console-") as tmp:
            path = os.path.join(tmp, "console.sock")
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
                server.bind(path)
                server.listen(1)
                launched = self.runtime.launch(self.c.id, self.bundle, stdio, path)
                master = _receive_console(server)
        self.keep.append(master)
        t = threading.Thread(target=_pump, args=(os.dup(master), [log_fd]), daemon=True)
        self.threads.append(t)
        return launched

    def finish(self, launched: Launched) -> Container:
        """Wait for the container to end, record it, clean up; the final record."""
        code = wait_exit(launched)
        for t in self.threads:
            t.join(timeout=2)
        for fd in self.keep:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.close(self.log_fd)
        return finalize(self.store, self.c.id, self.runtime, code)


def finalize(store, cid: str, runtime, code: int | None) -> Container:  # type: ignore[no-untyped-def]
    """The container has ended: delete it from the runtime, unmount its root file
    system, record "exited" with `code` (None: unknown). Idempotent."""
    runtime.delete(cid)
    umount_rootfs(store, cid)
    return records.set_state(
        store, cid, status=EXITED, pid=0, pid_start=0, exit_code=code, finished_at=time.time()
    )


def spawn_monitor(root: str, cid: str, ready: int, log: str) -> None:
    """Start the detached monitor of container `cid` (double fork, new session, stdio on
    /dev/null, stderr appended to `log`); it writes its answer on the fd `ready`. The
    caller must have no other threads (fork)."""
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)  # the intermediate child exits at once
        return
    code = 1
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        errors = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(errors, 2)
        # nothing of the parent's (its sqlite connection, its locks) stays open here
        os.closerange(3, ready)
        os.closerange(ready + 1, 65536)
        code = run_detached_monitor(root, cid, ready)
    except BaseException:  # a monitor must never return into the caller's code
        traceback.print_exc()
    finally:
        os._exit(code)


@dataclass(frozen=True)
class PathsOnly:
    """The part of a `Store` the monitor uses: its paths. A forked process must not open
    SQLite again (the parent's connection state is inherited), so the monitor touches
    only the container's own files and leaves the rows to `layerfs` commands."""

    paths: StorePaths

    def close(self) -> None:
        """Nothing to close."""


def _auto_remove(root: str, cid: str) -> None:
    """`run --rm -d`: remove the container through a fresh process (it needs SQLite)."""
    code = "from layerfs.cli.main import main; main()"
    env = {**os.environ, "LAYERFS_ROOT": root}
    subprocess.run(
        [sys.executable, "-c", code, "rm", "-f", cid],
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
    )


def run_detached_monitor(root: str, cid: str, ready: int) -> int:
    """The body of the detached monitor process (see the module docstring)."""
    from layerfs.runtime.lifecycle import runtime_for

    store = PathsOnly(StorePaths(root))
    try:
        c = records.read(store, cid)
        with holding_monitor_lock(store, cid):
            become_subreaper()
            try:
                runtime = runtime_for(store)
                session = Session(store, c, runtime, attached=False)
                launched = session.launch()
            except BaseException as e:
                os.write(ready, f"error: {e}\n".encode())
                os.close(ready)
                return 1
            os.write(ready, b"ok\n")
            os.close(ready)
            final = session.finish(launched)
        if final.config.auto_remove:
            _auto_remove(root, cid)
        return 0
    finally:
        store.close()
