"""RUN: a command in a container whose root file system is the parent layers plus a
fresh upper dir (an active snapshot of the store), through the runtime room.

`RunExecutor` is the interface the builder calls; `ContainerExecutor` is the real one:
the step's snapshot is mounted (kernel overlay, else FUSE: `runtime.rootfs`), a runtime
spec is generated (`runtime.spec.build_spec`: namespaces, docker's default mounts and
capabilities, network none unless `--network host`; never a bridge), and the runtime
(runc, else the chroot fallback: `runtime.lifecycle.runtime_for`) runs the command in
the foreground. The snapshot dir doubles as the bundle (config.json, hosts, hostname,
resolv.conf), as for a container. What the command wrote is in `<snapshot>/upper`.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from layerfs.errors import BuildFailed
from layerfs.runtime import containers as records
from layerfs.runtime.containers import Container, RunConfig
from layerfs.runtime.lifecycle import runtime_for
from layerfs.runtime.monitor import become_subreaper, wait_exit
from layerfs.runtime.rootfs import mount_rootfs, umount_rootfs, write_etc_files
from layerfs.runtime.spec import build_spec, resolve_in_root

if TYPE_CHECKING:
    from layerfs.store.store import Store

Output = Callable[[bytes], None]


@dataclass(frozen=True)
class RunRequest:
    """One RUN: `key` the step's active snapshot (already prepared on the parent chain),
    `argv` the full command, `env` KEY=VALUE, `workdir`, `user`, `network` none|host."""

    key: str
    argv: tuple[str, ...]
    env: tuple[str, ...]
    workdir: str = "/"
    user: str = ""
    network: str = "none"


class RunExecutor(Protocol):
    """Runs one RUN step; raises BuildFailed when the command fails (non-zero exit)."""

    def run(self, store: Store, request: RunRequest, output: Output) -> None: ...


def _pump(fd: int, output: Output) -> None:
    with os.fdopen(fd, "rb", buffering=0) as r:
        while chunk := r.read(65536):
            output(chunk)


def failed(argv: Sequence[str], code: int | None) -> BuildFailed:
    shown = json.dumps(list(argv)) if len(argv) != 3 or argv[1] != "-c" else (
        f"{argv[0]} -c {argv[2]}"
    )
    return BuildFailed(f"The command '{shown}' returned a non-zero code: {code}")


class ContainerExecutor:
    """RUN in a container of the runtime room (runc, else chroot + unshare)."""

    def run(self, store: Store, request: RunRequest, output: Output) -> None:
        os.makedirs(records.path_of(store, request.key, "merged"), exist_ok=True)
        c = Container(
            id=request.key,
            name=f"build-{request.key[-12:]}",
            image_id="",
            image_ref="",
            created=time.time(),
            config=RunConfig(
                args=request.argv,
                env=request.env,
                workdir=request.workdir or "/",
                user=request.user,
                network=request.network,
            ),
        )
        runtime = runtime_for(store)
        mount_rootfs(store, request.key)
        try:
            merged = records.path_of(store, request.key, "merged")
            if request.workdir not in ("", "/"):
                # WORKDIR's directory exists when RUN starts (docker makes it too); it
                # lands in this step's layer when the parent layers lack it
                os.makedirs(resolve_in_root(merged, request.workdir), 0o755, exist_ok=True)
            write_etc_files(store, c)
            bundle = records.container_dir(store, request.key)
            spec = build_spec(c, bundle, merged)
            with open(os.path.join(bundle, records.SPEC), "w") as f:
                json.dump(spec, f)
            code = self._launch(runtime, request.key, bundle, output)
        finally:
            umount_rootfs(store, request.key)
        if code != 0:
            raise failed(request.argv, code)

    @staticmethod
    def _launch(runtime, key: str, bundle: str, output: Output) -> int | None:  # type: ignore[no-untyped-def]
        r, w = os.pipe()
        pump = threading.Thread(target=_pump, args=(r, output), daemon=True)
        pump.start()
        become_subreaper()
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            launched = runtime.launch(key, bundle, (null, w, w))
        except RuntimeError as e:  # the runtime could not start the command
            raise BuildFailed(f"RUN could not start: {e}") from None
        finally:
            os.close(w)
            os.close(null)
        try:
            code = wait_exit(launched)
        finally:
            with contextlib.suppress(Exception):
                runtime.delete(key)
        pump.join(timeout=10)
        return code
