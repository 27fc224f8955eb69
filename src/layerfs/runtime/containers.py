"""Container records: what a container is made of and what state it is in.

A container is an active snapshot of the store (`containers/<id>/` with `upper/`,
`work/`) prepared on its image's top layer with the label `image` (what `rmi` checks)
and `container` (its name), plus files of its own in the same directory:

    container.json   this record (id, name, image, run config, state), written
                     temp → fsync → rename, so it is always whole
    config.json      the OCI runtime spec (written at each start)
    merged/          the root file system mount point (mounted while it runs)
    container.log    what the container wrote on stdout/stderr (`logs`)
    hosts, hostname, resolv.conf   bind-mounted over /etc/* like docker does
    state.lock       flock taken around every read-modify-write of the record

An active snapshot labelled `container` whose record is missing (a crash between the
two steps of `create`) is listed as a "dead" container: `rm` removes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from layerfs.errors import Conflict, InvalidInput, NotFound
from layerfs.store.durable import publish

if TYPE_CHECKING:
    from layerfs.store.store import Store

CREATED, RUNNING, EXITED, DEAD = "created", "running", "exited", "dead"
RECORD, SPEC, LOG, LOCK = "container.json", "config.json", "container.log", "state.lock"
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class VolumeMount:
    """One `-v`: a host dir (`kind` "bind") or a named volume (`kind` "volume")."""

    kind: str
    source: str
    destination: str
    readonly: bool = False
    name: str = ""


@dataclass(frozen=True)
class RunConfig:
    """What to run and how; fixed at create (docker's Config + HostConfig, in short).

    `args` is the full argv (entrypoint + cmd already joined); `env` KEY=VALUE.
    """

    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    workdir: str = "/"
    user: str = ""
    tty: bool = False
    stdin: bool = False
    network: str = "none"
    mounts: tuple[VolumeMount, ...] = ()
    auto_remove: bool = False

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        mounts = tuple(VolumeMount(**m) for m in d.get("mounts", ()))
        return cls(
            **{
                **d,
                "args": tuple(d["args"]),
                "env": tuple(d.get("env", ())),
                "mounts": mounts,
            }
        )


@dataclass(frozen=True)
class State:
    """The life-cycle state. `pid` is the container's init process (host pid) while
    running (`pid_start` its start time, to tell it from a later process with the same
    pid); `exit_code` None when unknown (the monitor died); times are epoch seconds;
    `runtime` "runc" or "chroot" (what ran it last); `rootfs` "overlay" or "fuse"."""

    status: str = CREATED
    pid: int = 0
    pid_start: int = 0
    exit_code: int | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    runtime: str = ""
    rootfs: str = ""
    error: str = ""


@dataclass(frozen=True)
class Container:
    """One container record (the content of container.json)."""

    id: str
    name: str
    image_id: str
    image_ref: str
    created: float
    config: RunConfig
    state: State = field(default_factory=State)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Container:
        return cls(
            id=d["id"],
            name=d["name"],
            image_id=d["image_id"],
            image_ref=d["image_ref"],
            created=d["created"],
            config=RunConfig.from_dict(d["config"]),
            state=State(**d.get("state", {})),
        )


# ---------------------------------------------------------------------- paths


def container_dir(store: Store, cid: str) -> str:
    return store.paths.snapshot(cid)


def path_of(store: Store, cid: str, name: str) -> str:
    """A file or dir inside the container's dir (`merged`, `upper`, RECORD, LOG...)."""
    return os.path.join(store.paths.snapshot(cid), name)


# ---------------------------------------------------------------------- records


def _write_record(store: Store, c: Container) -> None:
    final = path_of(store, c.id, RECORD)
    tmp = f"{final}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(c.to_dict(), f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    publish(tmp, final)


def _read_record(store: Store, cid: str) -> Container | None:
    try:
        with open(path_of(store, cid, RECORD)) as f:
            return Container.from_dict(json.load(f))
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def locked(store: Store, cid: str) -> Iterator[None]:
    """Hold the container's state lock (for a read-modify-write of its record)."""
    try:
        fd = os.open(path_of(store, cid, LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        raise NotFound(f"no such container: {cid}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update(store: Store, cid: str, change: Callable[[Container], Container]) -> Container:
    """Apply `change` to the stored record under the state lock; the new record."""
    with locked(store, cid):
        current = _read_record(store, cid)
        if current is None:
            raise NotFound(f"no such container: {cid}")
        new = change(current)
        if new != current:
            _write_record(store, new)
        return new


def set_state(store: Store, cid: str, **changes: Any) -> Container:
    """Replace fields of the record's state (under the lock)."""
    return update(store, cid, lambda c: replace(c, state=replace(c.state, **changes)))


def _dead(key: str, labels: dict[str, str], created: float) -> Container:
    return Container(
        id=key,
        name=labels.get("container", key[:12]),
        image_id=labels.get("image", ""),
        image_ref=labels.get("image", ""),
        created=created,
        config=RunConfig(args=()),
        state=State(status=DEAD, error="record missing (interrupted create)"),
    )


def list_containers(store: Store) -> list[Container]:
    """Every container of the store, newest first (dead ones included)."""
    rows = store.db.execute(
        "SELECT key, labels, created FROM snapshots WHERE kind = 'active' ORDER BY created DESC"
    ).fetchall()
    out: list[Container] = []
    for row in rows:
        labels = json.loads(row["labels"])
        if "container" not in labels:
            continue  # an active snapshot of someone else (a build step)
        record = _read_record(store, row["key"])
        out.append(record or _dead(row["key"], labels, row["created"]))
    return out


def resolve(store: Store, ref: str) -> Container:
    """A container by full id, name, or unique id prefix; NotFound otherwise."""
    everything = list_containers(store)
    for c in everything:
        if ref in (c.id, c.name, "/" + c.name):
            return c
    matches = [c for c in everything if ref and c.id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise InvalidInput(f"container id prefix {ref!r} is ambiguous ({len(matches)} matches)")
    raise NotFound(f"no such container: {ref}")


def find(store: Store, ref: str) -> Container | None:
    """`resolve`, or None when nothing matches."""
    try:
        return resolve(store, ref)
    except NotFound:
        return None


_ADJECTIVES = (
    "admiring", "amazing", "bold", "brave", "busy", "clever", "dreamy", "eager", "elated",
    "festive", "focused", "gallant", "happy", "jolly", "keen", "loving", "modest", "nifty",
    "quirky", "relaxed", "serene", "sharp", "stoic", "tender", "vibrant", "zealous",
)  # fmt: skip
_SCIENTISTS = (
    "babbage", "bohr", "curie", "darwin", "dijkstra", "einstein", "euler", "feynman",
    "galois", "hopper", "hypatia", "kepler", "knuth", "lamport", "liskov", "lovelace",
    "newton", "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak",
)  # fmt: skip


def _generated_name(taken: set[str]) -> str:
    while True:
        name = f"{secrets.choice(_ADJECTIVES)}_{secrets.choice(_SCIENTISTS)}"
        if name not in taken:
            return name


def create_record(
    store: Store, image_ref: str, config: RunConfig, name: str | None = None
) -> Container:
    """Create a container of image `image_ref`: its snapshot, dirs and record.

    Conflict if `name` is taken (checked under the store lock, so two creates cannot
    both win); InvalidInput for a bad name; NotFound for an unknown image. Nothing runs.
    """
    if name is not None and not _NAME.match(name.lstrip("/")):
        raise InvalidInput(f"invalid container name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]+")
    image = store.image(image_ref)
    with store.lock:
        taken = {c.name for c in list_containers(store)}
        wanted = name.lstrip("/") if name else _generated_name(taken)
        if wanted in taken:
            other = resolve(store, wanted)
            raise Conflict(
                f'the container name "/{wanted}" is already in use by container'
                f' "{other.id}". You have to remove (or rename) that container to be'
                " able to reuse that name."
            )
        cid = secrets.token_hex(32)
        labels = {"image": str(image.id), "container": wanted}
        store.snapshots.prepare(cid, image.record.top_chain, labels=labels)
        os.mkdir(path_of(store, cid, "merged"), 0o755)
        record = Container(cid, wanted, str(image.id), image_ref, time.time(), config)
        _write_record(store, record)
    return record


def read(store: Store, cid: str) -> Container:
    """The current record of container `cid` (full id)."""
    record = _read_record(store, cid)
    if record is None:
        raise NotFound(f"no such container: {cid}")
    return record
