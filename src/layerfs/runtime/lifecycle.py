"""The container life cycle: create, start (detached or attached), stop, kill, exec, rm.

Daemonless: every command reads the record, acts, writes the record. A container
started detached is watched by its own monitor process (`monitor.py`); `refresh`
repairs the record of a container whose monitor died (kill -9, reboot): a container
whose init is gone is finalized as "exited" with an unknown exit code.

Runtime: runc when installed (`LAYERFS_RUNTIME=runc|chroot` forces one); the chroot
fallback when runc is missing. When neither can run, `Unsupported` says what is missing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from layerfs.errors import Conflict, NotFound, Unsupported
from layerfs.runtime import containers as records
from layerfs.runtime.chroot import Chroot
from layerfs.runtime.containers import DEAD, RUNNING, Container, RunConfig, VolumeMount
from layerfs.runtime.monitor import (
    Session,
    become_subreaper,
    finalize,
    holding_monitor_lock,
    monitor_alive,
    monitor_lock_path,
    process_start,
    spawn_monitor,
)
from layerfs.runtime.rootfs import mount_rootfs, umount_rootfs, write_etc_files
from layerfs.runtime.runc import Runc, runc_binary, signal_number
from layerfs.runtime.spec import build_spec, resolve_user
from layerfs.runtime.volumes import ensure_volume, seed_volume

if TYPE_CHECKING:
    from layerfs.store.store import Store

ENV_RUNTIME = "LAYERFS_RUNTIME"


def runtime_for(store: Store) -> Runc | Chroot:
    """The runtime to use: runc, else the chroot fallback; Unsupported naming what is
    missing when neither works."""
    wanted = os.environ.get(ENV_RUNTIME, "")
    if wanted == "chroot" or (not wanted and runc_binary() is None):
        try:
            return Chroot()
        except Unsupported as e:
            raise Unsupported(f"no container runtime: runc is not installed, and {e}") from None
    return Runc(os.path.join(store.paths.root, "runtime", "runc"))


def create(
    store: Store,
    image_ref: str,
    command: Sequence[str] = (),
    *,
    name: str | None = None,
    env: Sequence[str] = (),
    workdir: str = "",
    user: str = "",
    tty: bool = False,
    stdin: bool = False,
    network: str = "none",
    volumes: Sequence[VolumeMount] = (),
    auto_remove: bool = False,
    entrypoint: Sequence[str] | None = None,
) -> Container:
    """`docker create`: the image's run defaults (Entrypoint, Cmd, Env, WorkingDir, User,
    Volumes: an anonymous volume each) completed by the arguments; named volumes are
    created when missing. Nothing runs."""
    image = store.image(image_ref)
    defaults = image.config().config
    entry = tuple(entrypoint) if entrypoint is not None else tuple(defaults.entrypoint or ())
    args = entry + (tuple(command) if command else tuple(defaults.cmd or ()))
    if not args:
        raise Conflict("no command specified (the image has no Cmd or Entrypoint)")
    merged_env = dict(e.partition("=")[::2] for e in defaults.env)
    merged_env |= {k: v for k, _, v in (e.partition("=") for e in env)}
    wanted = list(volumes)
    taken = {v.destination for v in wanted}
    wanted += [VolumeMount("volume", "", d) for d in defaults.volumes if d not in taken]
    mounts = tuple(ensure_volume(store, v) for v in wanted)
    config = RunConfig(
        args=args,
        env=tuple(f"{k}={v}" for k, v in merged_env.items()),
        workdir=workdir or defaults.working_dir or "/",
        user=user or defaults.user,
        tty=tty,
        stdin=stdin,
        network=network,
        mounts=mounts,
        auto_remove=auto_remove,
    )
    return records.create_record(store, image_ref, config, name)


def prepare(store: Store, c: Container) -> Container:
    """Mount the root file system and write config.json; the updated record."""
    driver = mount_rootfs(store, c.id)
    try:
        merged = records.path_of(store, c.id, "merged")
        for m in c.config.mounts:
            if m.kind == "volume":
                seed_volume(m.source, merged, m.destination)
        write_etc_files(store, c)
        spec = build_spec(
            c, records.container_dir(store, c.id), records.path_of(store, c.id, "merged")
        )
        path = records.path_of(store, c.id, records.SPEC)
        with open(path + ".tmp", "w") as f:
            json.dump(spec, f)
        os.replace(path + ".tmp", path)
    except BaseException:
        umount_rootfs(store, c.id)
        raise
    return records.set_state(store, c.id, rootfs=driver)


def start(store: Store, ref: str) -> Container:
    """`docker start`: run the container detached under a monitor process; returns once
    it runs (RuntimeError with the runtime's message if it could not start). Starting a
    running container does nothing."""
    c = refresh(store, records.resolve(store, ref))
    if c.state.status == RUNNING:
        return c
    if c.state.status == DEAD:
        raise Conflict(f"container {c.short_id} is dead: remove it")
    runtime_for(store)  # fail early with a clear message
    prepare(store, c)
    r, w = os.pipe()
    spawn_monitor(store.paths.root, c.id, w, records.path_of(store, c.id, "monitor.log"))
    os.close(w)
    with os.fdopen(r) as reader:
        answer = reader.read().strip()
    if answer != "ok":
        umount_rootfs(store, c.id)
        raise RuntimeError(answer.removeprefix("error: ") or "the monitor died while starting")
    return records.read(store, c.id)


def run_attached(store: Store, c: Container) -> Container:
    """Run the container in the foreground, its output on this process's stdout/stderr
    (and in the log); returns the final record (exit code in `state.exit_code`)."""
    runtime = runtime_for(store)
    c = prepare(store, c)
    with holding_monitor_lock(store, c.id):
        become_subreaper()
        session = Session(store, c, runtime, attached=True)
        if c.config.tty and isinstance(runtime, Runc):
            return _run_terminal(store, c, runtime)
        launched = session.launch()
        return session.finish(launched)


def _run_terminal(store: Store, c: Container, runtime: Runc) -> Container:
    """Foreground with a terminal: runc itself relays between the pty and our tty."""
    bundle = records.container_dir(store, c.id)
    runtime.delete(c.id)
    proc = subprocess.Popen([*runtime.argv("run", "--bundle", bundle, c.id)])
    records.set_state(store, c.id, status=RUNNING, started_at=time.time(), runtime="runc")
    code = proc.wait()
    return finalize(store, c.id, runtime, code if code >= 0 else 128 - code)


def refresh(store: Store, c: Container) -> Container:
    """The record, repaired if its monitor died: a container whose init is gone is
    finalized (exit code unknown); one still running stays "running"."""
    if c.state.status != RUNNING or monitor_alive(store, c.id):
        return c
    # the monitor writes the final record before it lets go of its lock: read again
    c = records.read(store, c.id)
    if c.state.status != RUNNING:
        return c
    if c.state.pid > 0 and process_start(c.state.pid) == c.state.pid_start:
        return c  # still the same process (a pid reused after a reboot is not)
    return finalize(store, c.id, runtime_of(store, c), None)


def _wait_stopped(store: Store, cid: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        c = refresh(store, records.read(store, cid))
        if c.state.status != RUNNING:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def kill(store: Store, ref: str, sig: str | int = "KILL") -> Container:
    """`docker kill`: send a signal to the container's init (Conflict if not running)."""
    c = refresh(store, records.resolve(store, ref))
    if c.state.status != RUNNING:
        raise Conflict(f"container {c.short_id} is not running")
    runtime_of(store, c).kill(c.id, signal_number(sig), c.state.pid)
    return c


def stop(store: Store, ref: str, timeout: float = 10.0) -> Container:
    """`docker stop`: SIGTERM, then SIGKILL after `timeout` seconds; the final record."""
    c = refresh(store, records.resolve(store, ref))
    if c.state.status != RUNNING:
        return c
    runtime = runtime_of(store, c)
    runtime.kill(c.id, signal.SIGTERM, c.state.pid)
    if not _wait_stopped(store, c.id, timeout):
        runtime.kill(c.id, signal.SIGKILL, c.state.pid)
        if not _wait_stopped(store, c.id, 30):
            raise Conflict(f"container {c.short_id} did not stop after SIGKILL")
    _wait_monitor(store, c.id)
    return records.read(store, c.id)


def _wait_monitor(store: Store, cid: str, timeout: float = 30.0) -> None:
    """Wait until no monitor watches the container (it may be finishing up)."""
    try:
        fd = os.open(monitor_lock_path(store, cid), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Conflict(f"container {cid[:12]}: its monitor does not finish") from None
                time.sleep(0.05)
    finally:
        os.close(fd)


def remove(store: Store, ref: str, *, force: bool = False) -> str:
    """`docker rm [-f]`: the container's writable layer and files go; its name is
    returned. A running container needs `force` (it is killed first)."""
    c = refresh(store, records.resolve(store, ref))
    if c.state.status == RUNNING:
        if not force:
            raise Conflict(
                f"You cannot remove a running container {c.id}. Stop the container"
                " before attempting removal or force remove"
            )
        runtime_of(store, c).kill(c.id, signal.SIGKILL, c.state.pid)
        if not _wait_stopped(store, c.id, 30):
            raise Conflict(f"container {c.short_id} did not stop after SIGKILL")
    _wait_monitor(store, c.id)
    remove_after_exit(store, c.id)
    return c.name


def remove_after_exit(store: Store, cid: str) -> None:
    """Remove a stopped container (runtime state, mounts, snapshot); idempotent."""
    with contextlib.suppress(Unsupported):
        runtime_for(store).delete(cid)
    try:
        umount_rootfs(store, cid)
        store.snapshots.remove(cid)
    except NotFound:
        return


def exec_in(
    store: Store,
    ref: str,
    args: Sequence[str],
    *,
    tty: bool = False,
    stdin: bool = False,
    env: Sequence[str] = (),
    workdir: str = "",
    user: str = "",
    detach: bool = False,
) -> int:
    """`docker exec`: run `args` in the running container; its exit status."""
    c = refresh(store, records.resolve(store, ref))
    if c.state.status != RUNNING:
        raise Conflict(f"container {c.short_id} is not running")
    runtime = runtime_of(store, c)
    ids = None
    if user:
        uid, gid, _ = resolve_user(records.path_of(store, c.id, "merged"), user)
        ids = (uid, gid)
    from layerfs.runtime.spec import process_env

    full_env = [*process_env(c), *env] if isinstance(runtime, Chroot) else list(env)
    argv, penv = runtime.exec_argv(
        c.id,
        c.state.pid,
        list(args),
        tty=tty,
        env=full_env,
        cwd=workdir or None,
        user=ids,
        detach=detach,
    )
    proc = subprocess.run(
        argv, stdin=None if stdin or tty else subprocess.DEVNULL, env=penv, check=False
    )
    return proc.returncode


def runtime_of(store: Store, c: Container) -> Runc | Chroot:
    """The runtime that ran `c` last (the default one if it never ran)."""
    if c.state.runtime == "chroot":
        return Chroot()
    if c.state.runtime == "runc":
        return Runc(os.path.join(store.paths.root, "runtime", "runc"))
    return runtime_for(store)
