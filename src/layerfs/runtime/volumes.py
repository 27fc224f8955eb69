"""Volumes: directories bind-mounted into a container past the union file system.

A host directory (`-v /host/dir:/dst[:ro]`) is used as it is (created when missing, as
docker does). A named volume (`-v NAME:/dst`, `--volume NAME:/dst`) lives in the store
at `volumes/<name>/_data`, with `volumes/<name>/volume.json` (created time, labels);
`-v /dst` alone makes an anonymous volume (a random 64-hex name). Volumes survive `rm`
of the containers that used them; `volume rm` refuses a volume that a container (even
a stopped one) uses.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from layerfs.errors import Conflict, InvalidInput, NotFound
from layerfs.runtime.containers import VolumeMount, list_containers
from layerfs.runtime.spec import resolve_in_root
from layerfs.store.durable import fsync_dir, publish, remove_tree
from layerfs.store.snapshots import tree_usage

if TYPE_CHECKING:
    from layerfs.store.store import Store

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
META = "volume.json"


@dataclass(frozen=True)
class Volume:
    """A named volume of the store."""

    name: str
    mountpoint: str
    created: float
    labels: dict[str, str]
    anonymous: bool = False

    def inspect(self) -> dict[str, Any]:
        """docker volume inspect's object."""
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created))
        return {
            "CreatedAt": created,
            "Driver": "local",
            "Labels": self.labels or None,
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": None,
            "Scope": "local",
        }


def parse_volume(spec: str) -> VolumeMount:
    """`SRC:DST[:ro|rw]`, `NAME:DST[:opts]` or `DST` (anonymous) → a VolumeMount whose
    source is still the name for volumes (see `ensure_volume`)."""
    parts = spec.split(":")
    if len(parts) == 1:
        parts = ["", parts[0]]
    if len(parts) > 3 or not parts[1].startswith("/"):
        raise InvalidInput(f"invalid volume specification: {spec!r} (use SRC:/DST[:ro])")
    readonly = False
    if len(parts) == 3:
        opts = parts[2].split(",")
        if set(opts) - {"ro", "rw", "z", "Z"}:
            raise InvalidInput(f"invalid volume option in {spec!r} (ro or rw)")
        readonly = "ro" in opts
    src, dst = parts[0], os.path.normpath(parts[1])
    if dst == "/":
        raise InvalidInput(f"invalid volume specification {spec!r}: destination can't be '/'")
    if src.startswith("/"):
        return VolumeMount("bind", os.path.normpath(src), dst, readonly)
    if src and not _NAME.match(src):
        raise InvalidInput(f"invalid volume name {src!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    return VolumeMount("volume", "", dst, readonly, src)


def _dir(store: Store, name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(f"invalid volume name {name!r}")
    return os.path.join(store.paths.volumes, name)


def get_volume(store: Store, name: str) -> Volume:
    """The named volume; NotFound when there is none."""
    try:
        with open(os.path.join(_dir(store, name), META)) as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise NotFound(f"no such volume: {name}") from None
    data = os.path.join(_dir(store, name), "_data")
    return Volume(name, data, meta["created"], meta.get("labels", {}), meta.get("anonymous", False))


def create_volume(
    store: Store, name: str = "", labels: dict[str, str] | None = None, *, anonymous: bool = False
) -> Volume:
    """`docker volume create [NAME]`: idempotent for an existing name."""
    name = name or secrets.token_hex(32)
    final = _dir(store, name)
    with store.lock:
        if os.path.exists(os.path.join(final, META)):
            return get_volume(store, name)
        tmp = os.path.join(store.paths.volumes, f".tmp-{name}")
        remove_tree(tmp)
        os.makedirs(os.path.join(tmp, "_data"), 0o755)
        meta = {"created": time.time(), "labels": labels or {}, "anonymous": anonymous}
        with open(os.path.join(tmp, META), "w") as f:
            json.dump(meta, f)
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(tmp)
        remove_tree(final)
        publish(tmp, final)
    return get_volume(store, name)


def ensure_volume(store: Store, mount: VolumeMount) -> VolumeMount:
    """A mount whose source is a real directory: host dirs made when missing, named
    volumes created when missing, anonymous ones given a fresh name."""
    if mount.kind == "bind":
        os.makedirs(mount.source, exist_ok=True)
        return mount
    volume = create_volume(store, mount.name, anonymous=not mount.name)
    return replace(mount, name=volume.name, source=volume.mountpoint)


def seed_volume(data: str, rootfs: str, destination: str) -> bool:
    """Docker's copy-up into volumes: an empty volume dir `data` mounted at `destination`
    gets what the image has there (read from the mounted `rootfs`, links never followed
    out of it). True if something was copied."""
    if os.listdir(data):
        return False
    src = resolve_in_root(rootfs, destination)
    if not os.path.isdir(src) or os.path.islink(src) or not os.listdir(src):
        return False
    shutil.copytree(src, data, symlinks=True, dirs_exist_ok=True)
    shutil.copystat(src, data)
    st = os.lstat(src)
    if os.geteuid() == 0:
        os.chown(data, st.st_uid, st.st_gid)
    return True


def list_volumes(store: Store) -> list[Volume]:
    """Every named volume, by name."""
    out = []
    for name in sorted(os.listdir(store.paths.volumes)):
        if not name.startswith(".") and os.path.isfile(
            os.path.join(store.paths.volumes, name, META)
        ):
            out.append(get_volume(store, name))
    return out


def volume_users(store: Store) -> dict[str, list[str]]:
    """Volume name → names of the containers (any state) that mount it."""
    users: dict[str, list[str]] = {}
    for c in list_containers(store):
        for m in c.config.mounts:
            if m.kind == "volume":
                users.setdefault(m.name, []).append(c.name)
    return users


def remove_volume(store: Store, name: str, *, force: bool = False) -> int:
    """`docker volume rm`: Conflict while a container uses it; bytes freed (on disk)."""
    volume = get_volume(store, name)
    with store.lock:
        users = volume_users(store).get(name, [])
        if users and not force:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        path = os.path.dirname(volume.mountpoint)
        freed = tree_usage(path).size
        remove_tree(path)
    return freed


def prune_volumes(store: Store) -> tuple[list[str], int]:
    """`docker volume prune`: every volume no container uses; (names, bytes freed)."""
    used = volume_users(store)
    removed: list[str] = []
    freed = 0
    for v in list_volumes(store):
        if v.name not in used:
            freed += remove_volume(store, v.name)
            removed.append(v.name)
    return removed, freed
