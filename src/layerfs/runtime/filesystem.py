"""What a container's writable layer holds: `diff`, `commit`, `export`, `inspect`.

The runtime's own files are hidden as docker hides them (its `-init` layer holds their
mount points, so they never show in the container layer): /etc/hosts, /etc/hostname,
/etc/resolv.conf, /etc/mtab, and the mount points /proc, /sys, /dev when the runtime had
to create them. A directory listed only because of those (an /etc created or copied up
for /etc/hosts) is hidden too. `commit` leaves them out of the new layer for the same
reason.
"""

from __future__ import annotations

import datetime
import os
import shutil
from typing import TYPE_CHECKING, Any, BinaryIO

from layerfs.archive.generate import write_tree_tar
from layerfs.oci.config import HistoryEntry
from layerfs.runtime.containers import RUNNING, Container, path_of
from layerfs.store.commit import commit_image
from layerfs.store.durable import remove_tree
from layerfs.store.flatten import flatten
from layerfs.store.records import ImageRecord
from layerfs.union.changes import Change, changes

if TYPE_CHECKING:
    from layerfs.store.store import Store

HIDDEN_FILES = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab")
HIDDEN_TREES = ("/proc", "/sys", "/dev")


def is_hidden(path: str) -> bool:
    """True for the runtime's own files and mount points (and what is below the trees)."""
    return path in HIDDEN_FILES or any(path == t or path.startswith(t + "/") for t in HIDDEN_TREES)


def lowerdirs(store: Store, c: Container) -> list[str]:
    """The container's lower layers, top first (its image's layers)."""
    info = store.snapshots.stat(c.id)
    return store.lowerdirs(info.parent)


def _own_attrs_changed(path: str, upper: str, lowers: list[str]) -> bool:
    new = os.lstat(upper + path)
    for lower in lowers:
        try:
            old = os.lstat(lower + path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        return (old.st_mode, old.st_uid, old.st_gid) != (new.st_mode, new.st_uid, new.st_gid)
    return True


def visible_changes(upper: str, lowers: list[str], rules: str = "docker") -> list[Change]:
    """`changes(upper, lowers, rules=rules)` without the runtime's files (see the module
    docstring)."""
    everything = changes(upper, lowers, rules=rules)
    hidden = [c.path for c in everything if is_hidden(c.path)]
    kept = [c for c in everything if not is_hidden(c.path)]
    out = []
    for ch in kept:
        prefix = ch.path.rstrip("/") + "/"
        only_hidden_below = any(h.startswith(prefix) for h in hidden) and not any(
            k.path.startswith(prefix) for k in kept
        )
        if only_hidden_below and (ch.kind == "A" or not _own_attrs_changed(ch.path, upper, lowers)):
            continue
        out.append(ch)
    return out


def container_changes(store: Store, c: Container, rules: str = "docker") -> list[Change]:
    """`docker diff CONTAINER`: A/C/D of the writable layer over the image (`rules`
    "podman": podman's, which also lists a file copied up without a change)."""
    return visible_changes(path_of(store, c.id, "upper"), lowerdirs(store, c), rules)


def _without_hidden(upper: str, dest: str) -> None:
    """Hard-link copy of `upper` into the new dir `dest` minus the hidden paths
    (metadata and xattrs, opaque markers included, copied; whiteouts linked)."""

    def ignore(directory: str, names: list[str]) -> list[str]:
        rel = "/" + os.path.relpath(directory, upper).removeprefix(".").lstrip("/")
        return [n for n in names if is_hidden(os.path.join(rel, n))]

    os.rmdir(dest)
    shutil.copytree(upper, dest, symlinks=True, ignore=ignore, copy_function=os.link)


def commit_container(
    store: Store,
    c: Container,
    tags: list[str],
    *,
    message: str = "",
    author: str = "",
) -> ImageRecord:
    """`docker commit`: the image of `c` plus one layer made of its writable layer (the
    store's deterministic tar). The new image's run defaults are the container's.

    A running container is not paused (docker pauses it): what it writes meanwhile may
    or may not be in the layer. Crash-safe as every store write: killed half-way, no
    image is visible and the next writer rolls the ingest back.
    """
    from layerfs.oci.container_config import ContainerConfig

    base = store.image(c.image_id)
    defaults = base.config().config
    config = ContainerConfig(
        env=c.config.env,
        cmd=c.config.args,
        entrypoint=None,
        working_dir=c.config.workdir if c.config.workdir != "/" else defaults.working_dir,
        user=c.config.user,
        labels=defaults.labels,
        exposed_ports=defaults.exposed_ports,
        volumes=defaults.volumes,
        stop_signal=defaults.stop_signal,
    )
    history = HistoryEntry(created_by=" ".join(c.config.args), comment=message, author=author)
    upper = path_of(store, c.id, "upper")
    with store.ingest() as ingest:
        filtered = ingest.temp_dir("commit")
        _without_hidden(upper, filtered)
        return commit_image(store, filtered, base, tags, history=history, config=config)


def export_container(store: Store, c: Container, out: BinaryIO) -> int:
    """`docker export`: the container's merged file system as a plain tar; its size."""
    layers = [*reversed(lowerdirs(store, c)), path_of(store, c.id, "upper")]
    with store.ingest() as ingest:
        tree = ingest.temp_dir("export")
        try:
            flatten(layers, tree)
            return write_tree_tar(tree, out).size
        finally:
            remove_tree(tree)


def _iso(ts: float) -> str:
    if not ts:
        return "0001-01-01T00:00:00Z"
    when = datetime.datetime.fromtimestamp(ts, datetime.UTC)
    return when.isoformat().replace("+00:00", "Z")


def inspect_container(store: Store, c: Container) -> dict[str, Any]:
    """docker container inspect's object (the fields docker users read)."""
    base = path_of(store, c.id, "")
    running = c.state.status == RUNNING
    binds = [
        f"{m.name or m.source}:{m.destination}{':ro' if m.readonly else ''}"
        for m in c.config.mounts
    ]
    return {
        "Id": c.id,
        "Created": _iso(c.created),
        "Path": c.config.args[0] if c.config.args else "",
        "Args": list(c.config.args[1:]),
        "State": {
            "Status": c.state.status,
            "Running": running,
            "Paused": False,
            "Restarting": False,
            "OOMKilled": False,
            "Dead": c.state.status == "dead",
            "Pid": c.state.pid if running else 0,
            "ExitCode": c.state.exit_code
            if c.state.exit_code is not None
            else (0 if not c.state.finished_at else -1),
            "Error": c.state.error,
            "StartedAt": _iso(c.state.started_at),
            "FinishedAt": _iso(c.state.finished_at),
        },
        "Image": c.image_id,
        "ResolvConfPath": base + "resolv.conf",
        "HostnamePath": base + "hostname",
        "HostsPath": base + "hosts",
        "LogPath": base + "container.log",
        "Name": "/" + c.name,
        "RestartCount": 0,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "Binds": binds or None,
            "NetworkMode": c.config.network,
            "AutoRemove": c.config.auto_remove,
            "Runtime": c.state.runtime or "runc",
        },
        "GraphDriver": {
            "Name": "overlay",
            "Data": {
                "LowerDir": ":".join(lowerdirs(store, c)),
                "MergedDir": base + "merged",
                "UpperDir": base + "upper",
                "WorkDir": base + "work",
            },
        },
        "Mounts": [
            {
                "Type": m.kind,
                **({"Name": m.name} if m.kind == "volume" else {}),
                "Source": m.source,
                "Destination": m.destination,
                "Mode": "ro" if m.readonly else "",
                "RW": not m.readonly,
            }
            for m in c.config.mounts
        ],
        "Config": {
            "Hostname": c.short_id,
            "User": c.config.user,
            "Tty": c.config.tty,
            "OpenStdin": c.config.stdin,
            "Env": list(c.config.env),
            "Cmd": list(c.config.args),
            "Image": c.image_ref,
            "WorkingDir": c.config.workdir,
        },
        "NetworkSettings": {"Networks": {c.config.network: {}}},
    }
