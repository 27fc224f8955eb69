"""`info`: the store and the host, as `docker info` (default, `--format json`, Go
templates) or `podman info` (`--format yaml`) print them.

Words chosen (docker's where docker has one, so that its greps work):
- ` Storage Driver: overlay` when containers get a kernel overlay, `fuse-overlay` when
  they would get layerfs's FUSE server (kernel overlay not permitted; the line below it,
  ` Kernel Overlay: <why not>`, says why), `none` when neither works; then docker's
  ` Backing Filesystem`, ` Supports d_type`, ` Native Overlay Diff`, ` userxattr`, and
  layerfs's ` Whiteouts` (the store's on-disk whiteout form) and ` Layers`.
- ` Docker Root Dir: <store root>`: docker's name for the line, so that
  `info | grep "Docker Root Dir"` finds the store root (the seed's step).
- podman's `graphDriverName` is `overlay` for either driver (layer dirs are overlay
  layers; podman says the same with fuse-overlayfs), the FUSE case adding
  `overlay.mount_program: layerfs-fuse` to `graphOptions`, as podman does.
"""

from __future__ import annotations

import json
from typing import Any

import click

import layerfs
from layerfs.cli._common import emit_json
from layerfs.cli._gotemplate import render
from layerfs.cli._store import open_store, root_option
from layerfs.runtime.info import FUSE, SystemInfo, collect


def _bool(v: bool) -> str:
    return "true" if v else "false"


def binary_size(n: int) -> str:
    """docker's units.BytesSize: 4 significant digits, binary units ("23.54GiB")."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.4g}{unit}"
        value /= 1024
    return f"{value:.4g}TiB"


def driver_status(info: SystemInfo) -> list[list[str]]:
    """docker's DriverStatus pairs (the indented lines under Storage Driver)."""
    s = info.storage
    pairs = [
        ["Backing Filesystem", s.backing_filesystem],
        ["Supports d_type", _bool(s.supports_d_type)],
        ["Native Overlay Diff", _bool(s.native_overlay_diff)],
        ["userxattr", _bool(s.userxattr)],
        ["Whiteouts", s.whiteouts],
        ["Layers", str(info.layers)],
    ]
    if s.why:
        pairs.append(["Kernel Overlay", s.why])
    return pairs


def docker_dict(info: SystemInfo) -> dict[str, Any]:
    """The fields of `docker info --format json` that layerfs has (docker's names),
    plus `Fuse` (the FUSE driver is usable)."""
    return {
        "Containers": info.containers,
        "ContainersRunning": info.running,
        "ContainersPaused": info.paused,
        "ContainersStopped": info.stopped,
        "Images": info.images,
        "Driver": info.storage.driver,
        "DriverStatus": driver_status(info),
        "Fuse": info.fuse,
        "CgroupVersion": info.cgroup_version,
        "Runtimes": {info.runtime: {"path": info.runtime}},
        "DefaultRuntime": info.runtime,
        "RuncCommit": {"ID": info.runtime_version},
        "KernelVersion": info.kernel_version,
        "OperatingSystem": info.operating_system,
        "OSType": "linux",
        "Architecture": info.architecture,
        "NCPU": info.cpus,
        "MemTotal": info.mem_total,
        "DockerRootDir": info.root,
        "Name": info.hostname,
        "ServerVersion": layerfs.__version__,
    }


def docker_text(info: SystemInfo) -> str:
    """`docker info`'s server section."""
    lines = [
        "Server:",
        f" Containers: {info.containers}",
        f"  Running: {info.running}",
        f"  Paused: {info.paused}",
        f"  Stopped: {info.stopped}",
        f" Images: {info.images}",
        f" Server Version: layerfs {layerfs.__version__}",
        f" Storage Driver: {info.storage.driver}",
        *(f"  {k}: {v}" for k, v in driver_status(info)),
        f" FUSE Driver: {'available' if info.fuse else 'unavailable'}",
        f" Cgroup Version: {info.cgroup_version}",
        f" Runtimes: {info.runtime}",
        f" Default Runtime: {info.runtime}",
    ]
    if info.runtime_version:
        lines.append(f" runc version: {info.runtime_version}")
    lines += [
        f" Kernel Version: {info.kernel_version}",
        f" Operating System: {info.operating_system}",
        " OSType: linux",
        f" Architecture: {info.architecture}",
        f" CPUs: {info.cpus}",
        f" Total Memory: {binary_size(info.mem_total)}",
        f" Name: {info.hostname}",
        f" Docker Root Dir: {info.root}",
    ]
    return "\n".join(lines)


def podman_dict(info: SystemInfo) -> dict[str, Any]:
    """`podman info`'s host/store/version layout."""
    s = info.storage
    options = {"overlay.mount_program": "layerfs-fuse"} if s.driver == FUSE else {}
    return {
        "host": {
            "arch": info.architecture,
            "cgroupVersion": f"v{info.cgroup_version}",
            "cpus": info.cpus,
            "hostname": info.hostname,
            "kernel": info.kernel_version,
            "memTotal": info.mem_total,
            "ociRuntime": {"name": info.runtime, "version": info.runtime_version},
            "os": "linux",
            "distribution": info.operating_system,
        },
        "store": {
            "containerStore": {
                "number": info.containers,
                "paused": info.paused,
                "running": info.running,
                "stopped": info.stopped,
            },
            "graphDriverName": "overlay",
            "graphOptions": options,
            "graphRoot": info.root,
            "graphStatus": {k: v for k, v in driver_status(info)},
            "imageStore": {"number": info.images},
        },
        "version": {"Version": layerfs.__version__},
    }


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return _bool(v)
    if isinstance(v, int):
        return str(v)
    text = str(v)
    plain = text and text not in ("true", "false") and not text[0].isdigit()
    if plain and ": " not in text and not text.startswith(("{", "[", "-", '"')):
        return text
    return json.dumps(text)


def yaml_text(data: dict[str, Any], indent: int = 0) -> str:
    """A nested dict of scalars as block YAML (podman's output form); {} as `{}`."""
    lines = []
    for key, value in data.items():
        pad = "  " * indent
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{_scalar(key)}:")
            lines.append(yaml_text(value, indent + 1))
        elif isinstance(value, dict):
            lines.append(f"{pad}{_scalar(key)}: {{}}")
        else:
            lines.append(f"{pad}{_scalar(key)}: {_scalar(value)}")
    return "\n".join(lines)


@click.command("info")
@click.option(
    "-f",
    "--format",
    "fmt",
    metavar="FORMAT",
    default=None,
    help="json (docker's fields), yaml (podman info's layout) or a Go template.",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@root_option
def info_cmd(fmt: str | None, as_json: bool, root: str | None) -> None:
    """Show the store and the host as `docker info` does: containers (running, paused,
    stopped), images, the storage driver (kernel `overlay` when this process may mount
    it, else `fuse-overlay`) and its backing file system, cgroup version, runtime and
    its version, kernel, and the store root (` Docker Root Dir:`). Probing mounts one
    empty overlay under the store's ingest/ and removes it.

    \b
    Examples:
      layerfs info | grep "Docker Root Dir"
      layerfs info | grep "Storage Driver"
      layerfs info --format yaml | grep graphDriverName
      layerfs info --format '{{.Driver}}'
    """
    with open_store(root) as store:
        info = collect(store)
    if as_json or fmt == "json":
        emit_json(docker_dict(info))
    elif fmt == "yaml":
        click.echo(yaml_text(podman_dict(info)))
    elif fmt:
        click.echo(render(fmt, docker_dict(info)))
    else:
        click.echo(docker_text(info))


COMMANDS = [info_cmd]
