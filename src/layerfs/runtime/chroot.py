"""The fallback runtime when runc is missing or fails: unshare + chroot.

It reads the same config.json as runc and honours the part of it a container needs:
new mount, uts, ipc and pid namespaces (and a network namespace with loopback up unless
the spec shares the host's), the spec's mounts (proc, tmpfs, devpts, mqueue, sysfs and
binds; cgroup mounts are skipped), /dev populated with the usual device nodes
bind-mounted from the host, hostname, rlimits, user, cwd, env, args. It needs root
(CAP_SYS_ADMIN); there are no cgroups, capabilities are not dropped and there is no
seccomp: it is a fallback, not an isolation boundary.

Process tree: `python -m layerfs.runtime.chroot BUNDLE PIDFILE` unshares and forks the
container's init (pid 1 of the new pid namespace), writes its host pid to PIDFILE,
forwards termination signals to it and exits with its status.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from typing import IO, Any

from layerfs.errors import Unsupported
from layerfs.runtime.runc import Launched
from layerfs.runtime.spec import resolve_in_root

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE, MS_STRICTATIME = 32, 4096, 16384, 1 << 18, 1 << 24
_FLAGS = {"ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}
_IGNORED = {"rw", "rbind", "bind", "rprivate", "private", "relatime", "strictatime"}
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_NS = {"mount": CLONE_NEWNS, "uts": CLONE_NEWUTS, "ipc": CLONE_NEWIPC, "pid": CLONE_NEWPID}

_libc = ctypes.CDLL(None, use_errno=True)


def _check(res: int, what: str) -> None:
    if res != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str) -> None:
    enc = lambda s: None if s is None else os.fsencode(s)  # noqa: E731
    res = _libc.mount(
        enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data or None)
    )
    _check(res, f"mount {fstype or 'bind'} on {target}")


def available() -> str | None:
    """None when the fallback can work here, else what is missing."""
    if os.geteuid() != 0:
        return "the chroot fallback needs root (CAP_SYS_ADMIN for unshare and mount)"
    if shutil.which("nsenter") is None:
        return "nsenter (util-linux) is not installed"
    return None


def _target(root: str, dest: str, is_file: bool) -> str:
    path = resolve_in_root(root, dest)
    if is_file:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path):
            open(path, "a").close()
    else:
        os.makedirs(path, exist_ok=True)
    return path


def _do_mount(root: str, m: dict[str, Any]) -> None:
    if m["type"] == "cgroup":
        return
    opts = list(m.get("options", []))
    flags = 0
    data = []
    for o in opts:
        if o in _FLAGS:
            flags |= _FLAGS[o]
        elif o not in _IGNORED:
            data.append(o)
    if m["type"] == "bind":
        is_file = not os.path.isdir(m["source"])
        target = _target(root, m["destination"], is_file)
        _mount(m["source"], target, None, MS_BIND | MS_REC, "")
        if flags:
            _mount(None, target, None, MS_REMOUNT | MS_BIND | flags, "")
        return
    target = _target(root, m["destination"], False)
    _mount(m["source"], target, m["type"], flags, ",".join(data))


def _populate_dev(root: str) -> None:
    dev = resolve_in_root(root, "/dev")
    for name in _DEVICES:
        path = os.path.join(dev, name)
        open(path, "a").close()
        _mount(f"/dev/{name}", path, None, MS_BIND, "")
    links = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1"}
    links |= {"stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"}
    for name, target in links.items():
        if not os.path.lexists(os.path.join(dev, name)):
            os.symlink(target, os.path.join(dev, name))


def _loopback_up() -> None:
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, siocgifflags, req))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sh", b"lo", flags | iff_up))


def _container_init(spec: dict[str, Any]) -> None:
    """In the new namespaces: mounts, chroot, identity, exec. Never returns."""
    root = spec["root"]["path"]
    proc = spec["process"]
    socket.sethostname(spec.get("hostname", "container"))
    for m in spec.get("mounts", []):
        _do_mount(root, m)
        if m["destination"] == "/dev":
            _populate_dev(root)
    if any(n["type"] == "network" for n in spec["linux"]["namespaces"]):
        _loopback_up()
    os.chroot(root)
    os.chdir(proc.get("cwd", "/"))
    for lim in proc.get("rlimits", []):
        kind = getattr(resource, lim["type"])
        resource.setrlimit(kind, (lim["soft"], lim["hard"]))
    user = proc["user"]
    os.setgroups(user.get("additionalGids", []))
    os.setgid(user["gid"])
    os.setuid(user["uid"])
    env = dict(e.split("=", 1) for e in proc["env"])
    os.execvpe(proc["args"][0], proc["args"], env)


def main(bundle: str, pid_file: str) -> int:
    """The helper process (see the module docstring); its exit status is the container's."""
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.load(f)
    flags = 0
    for ns in spec["linux"]["namespaces"]:
        flags |= _NS.get(ns["type"], CLONE_NEWNET if ns["type"] == "network" else 0)
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE, "")
    child = os.fork()
    if child == 0:
        try:
            _container_init(spec)
        except BaseException as e:  # report, never return into the helper's code
            print(f"layerfs chroot: {e}", file=sys.stderr, flush=True)
            os._exit(127)
    tmp = pid_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(child))
    os.replace(tmp, pid_file)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, lambda s, _f: os.kill(child, s))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


class Chroot:
    """The fallback runtime with the interface of `Runc`."""

    name = "chroot"

    def __init__(self) -> None:
        missing = available()
        if missing:
            raise Unsupported(missing)

    def launch(
        self,
        cid: str,
        bundle: str,
        stdio: tuple[int | IO[bytes], int | IO[bytes], int | IO[bytes]],
        console_socket: str | None = None,
    ) -> Launched:
        if console_socket:
            raise Unsupported("the chroot fallback cannot give a container a terminal (-t)")
        pid_file = os.path.join(bundle, "init.pid")
        if os.path.exists(pid_file):
            os.unlink(pid_file)
        helper = subprocess.Popen(
            [sys.executable, "-m", "layerfs.runtime.chroot", bundle, pid_file],
            stdin=stdio[0],
            stdout=stdio[1],
            stderr=stdio[2],
        )
        deadline = time.monotonic() + 30
        while not os.path.exists(pid_file):
            if helper.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chroot: the helper exited with status {helper.returncode}")
            time.sleep(0.01)
        with open(pid_file) as f:
            return Launched(int(f.read()), helper.pid)

    def state(self, cid: str) -> dict[str, object] | None:
        return None

    def kill(self, cid: str, sig: int, pid: int) -> None:
        if pid > 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def delete(self, cid: str) -> None:
        """Nothing to delete: the namespaces die with their last process."""

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
        """nsenter into the container's namespaces and root; the env goes as the
        process environment (the second element)."""
        argv = ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "-r"]
        argv.append(f"--wd={cwd}" if cwd else "-w")
        if user is not None:
            argv += ["-S", str(user[0]), "-G", str(user[1])]
        return [*argv, "--", *args], dict(e.split("=", 1) for e in env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
