"""The OCI runtime spec (config.json) of a container, as docker would generate it.

`build_spec` turns a container record into the spec runc runs: namespaces (pid, ipc,
uts, mount, and a new network namespace with only loopback unless `--network host`),
the mounts every container gets (/proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys,
/sys/fs/cgroup read-only), docker's /etc/hosts, /etc/hostname and /etc/resolv.conf bind
mounts, the volumes, docker's default capabilities, the masked and read-only /proc
paths, and rlimits within this host's hard limits (an unprivileged runtime may not raise
a hard limit: RLIMIT_NOFILE is set to the host's hard limit, soft = hard).

`resolve_user` reads /etc/passwd and /etc/group of the container's root file system
without following a link out of it (the image is not trusted).
"""

from __future__ import annotations

import errno
import os
import resource
import stat
from typing import Any

from layerfs.errors import InvalidInput
from layerfs.runtime.containers import Container

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# docker's default capability set (moby oci/caps/defaults.go)
DEFAULT_CAPS = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
MASKED = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
)
READONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
ETC_FILES = ("hosts", "hostname", "resolv.conf")
_MAX_LINKS = 40


def resolve_in_root(root: str, path: str) -> str:
    """The host path of `path` inside the tree `root`, symlinks resolved as if `root` were
    `/` (absolute targets and `..` never leave it). The last component may be missing.
    OSError(ELOOP) after 40 links."""
    parts = [p for p in path.split("/") if p]
    current: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if current:
                current.pop()
            continue
        candidate = os.path.join(root, *current, part)
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            current += [part, *parts]
            break
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > _MAX_LINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        current.append(part)
    return os.path.join(root, *current)


def read_in_root(root: str, path: str, limit: int = 1 << 20) -> bytes | None:
    """The content of `path` inside `root` (see `resolve_in_root`); None when absent or
    not a regular file."""
    try:
        final = resolve_in_root(root, path)
        fd = os.open(final, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit)
    finally:
        os.close(fd)


def _table(root: str, path: str) -> list[list[str]]:
    data = read_in_root(root, path) or b""
    rows = []
    for line in data.decode(errors="replace").splitlines():
        if line and not line.startswith("#"):
            rows.append(line.split(":"))
    return rows


def resolve_user(root: str, user: str) -> tuple[int, int, tuple[int, ...]]:
    """(uid, gid, additional gids) for docker's `-u` forms: "", NAME, UID, NAME:GROUP,
    UID:GID (names from the container's /etc/passwd and /etc/group). InvalidInput for a
    name that is not there."""
    name, _, group = (user or "0").partition(":")
    passwd = _table(root, "/etc/passwd")
    groups = _table(root, "/etc/group")
    uid, gid = -1, 0
    if name.isdigit():
        uid = int(name)
        for row in passwd:
            if len(row) > 3 and row[2] == name and row[3].isdigit():
                gid = int(row[3])
                name = row[0]
                break
    else:
        for row in passwd:
            if len(row) > 3 and row[0] == name and row[2].isdigit() and row[3].isdigit():
                uid, gid = int(row[2]), int(row[3])
                break
        if uid < 0:
            raise InvalidInput(f"unable to find user {name}: no matching entries in passwd file")
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            found = [int(r[2]) for r in groups if len(r) > 2 and r[0] == group and r[2].isdigit()]
            if not found:
                raise InvalidInput(
                    f"unable to find group {group}: no matching entries in group file"
                )
            gid = found[0]
    extra = tuple(
        sorted(
            {
                int(r[2])
                for r in groups
                if len(r) > 3 and r[2].isdigit() and name in r[3].split(",") and int(r[2]) != gid
            }
        )
    )
    return uid, gid, extra


def process_env(c: Container) -> list[str]:
    """The environment: the record's env (image env + -e), plus PATH, HOSTNAME and, with
    a terminal, TERM, as docker adds them."""
    env = [e for e in c.config.env if not e.startswith("HOSTNAME=")]
    keys = {e.split("=", 1)[0] for e in env}
    out = [f"HOSTNAME={c.short_id}"]
    if "PATH" not in keys:
        out.append(f"PATH={DEFAULT_PATH}")
    out += env
    if c.config.tty and "TERM" not in keys:
        out.append("TERM=xterm")
    return out


def nofile_limit() -> int:
    """The host's hard RLIMIT_NOFILE (what a container may get without CAP_SYS_RESOURCE)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return hard if hard != resource.RLIM_INFINITY else 1048576


def _mounts(c: Container, bundle: str) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
        },
    ]
    for name in ETC_FILES:
        mounts.append(
            {
                "destination": f"/etc/{name}",
                "type": "bind",
                "source": os.path.join(bundle, name),
                "options": ["rbind", "rprivate"],
            }
        )
    for v in c.config.mounts:
        opts = ["rbind", "rprivate", "ro" if v.readonly else "rw"]
        mounts.append(
            {"destination": v.destination, "type": "bind", "source": v.source, "options": opts}
        )
    return mounts


def build_spec(c: Container, bundle: str, rootfs: str) -> dict[str, Any]:
    """The runtime spec of `c` whose bundle dir is `bundle` and whose mounted root file
    system is `rootfs` (read for the user's ids)."""
    uid, gid, extra = resolve_user(rootfs, c.config.user)
    caps = list(DEFAULT_CAPS)
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if c.config.network != "host":
        namespaces.append({"type": "network"})
    nofile = nofile_limit()
    process: dict[str, Any] = {
        "terminal": c.config.tty,
        "user": {"uid": uid, "gid": gid, **({"additionalGids": list(extra)} if extra else {})},
        "args": list(c.config.args),
        "env": process_env(c),
        "cwd": c.config.workdir or "/",
        "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
        "noNewPrivileges": False,
    }
    return {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": rootfs, "readonly": False},
        "hostname": c.short_id,
        "mounts": _mounts(c, bundle),
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": namespaces,
            "maskedPaths": list(MASKED),
            "readonlyPaths": list(READONLY),
        },
    }
