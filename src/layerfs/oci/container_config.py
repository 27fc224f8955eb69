"""The run defaults inside an image config (Docker's ``Config`` object)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from layerfs.errors import InvalidInput
from layerfs.oci._json import (
    expect_object,
    frozen_map,
    get_bool,
    get_int,
    get_key_set,
    get_str,
    get_str_map,
    get_strs,
    put,
)


@dataclass(frozen=True)
class Healthcheck:
    """HEALTHCHECK: `test` as Docker stores it (``["CMD-SHELL", "..."]``, ``["NONE"]``).

    Durations are nanoseconds; 0 means "inherit the default".
    """

    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Test": list(self.test)}
        for key, value in (("Interval", self.interval), ("Timeout", self.timeout),
                           ("StartPeriod", self.start_period),
                           ("StartInterval", self.start_interval), ("Retries", self.retries)):
            if value:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str) -> Healthcheck:
        expect_object(d, where)
        return cls(
            test=get_strs(d, "Test", where),
            interval=get_int(d, "Interval", where, 0),
            timeout=get_int(d, "Timeout", where, 0),
            start_period=get_int(d, "StartPeriod", where, 0),
            start_interval=get_int(d, "StartInterval", where, 0),
            retries=get_int(d, "Retries", where, 0),
        )


@dataclass(frozen=True)
class ContainerConfig:
    """Run defaults of an image. `cmd`/`entrypoint`/`shell` are None when unset.

    `exposed_ports` (``"80/tcp"``) and `volumes` (paths) are sorted tuples; `labels` a
    read-only mapping. Unknown keys (``ArgsEscaped``, ``Hostname``...) are kept in `extra`.
    """

    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str = ""
    user: str = ""
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    stop_signal: str | None = None
    healthcheck: Healthcheck | None = None
    onbuild: tuple[str, ...] = ()
    shell: tuple[str, ...] | None = None
    args_escaped: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("env", "exposed_ports", "volumes", "onbuild"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "exposed_ports", tuple(sorted(set(self.exposed_ports))))
        object.__setattr__(self, "volumes", tuple(sorted(set(self.volumes))))
        for name in ("cmd", "entrypoint", "shell"):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, str):
                    raise InvalidInput(f"config.{name}: expected a sequence of strings")
                object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "labels", frozen_map(self.labels))

    def env_dict(self) -> dict[str, str]:
        """`env` as a dict (later entries win; an entry without '=' maps to "")."""
        out: dict[str, str] = {}
        for item in self.env:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        put(out, "User", self.user)
        if self.exposed_ports:
            out["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        put(out, "Env", self.env)
        if self.entrypoint is not None:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            out["Cmd"] = list(self.cmd)
        if self.volumes:
            out["Volumes"] = {v: {} for v in self.volumes}
        put(out, "WorkingDir", self.working_dir)
        put(out, "Labels", self.labels)
        put(out, "StopSignal", self.stop_signal)
        if self.args_escaped:
            out["ArgsEscaped"] = True
        if self.healthcheck is not None:
            out["Healthcheck"] = self.healthcheck.to_dict()
        put(out, "OnBuild", self.onbuild)
        if self.shell is not None:
            out["Shell"] = list(self.shell)
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "config.config") -> ContainerConfig:
        if d is None:
            return cls()
        expect_object(d, where)
        health = d.get("Healthcheck")
        known = {"User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir",
                 "Labels", "StopSignal", "ArgsEscaped", "Healthcheck", "OnBuild", "Shell"}
        return cls(
            env=get_strs(d, "Env", where),
            cmd=get_strs(d, "Cmd", where, None),
            entrypoint=get_strs(d, "Entrypoint", where, None),
            working_dir=get_str(d, "WorkingDir", where, ""),
            user=get_str(d, "User", where, ""),
            labels=get_str_map(d, "Labels", where) or {},
            exposed_ports=get_key_set(d, "ExposedPorts", where),
            volumes=get_key_set(d, "Volumes", where),
            stop_signal=get_str(d, "StopSignal", where, None) or None,
            healthcheck=None if health is None else Healthcheck.from_dict(
                health, f"{where}.Healthcheck"),
            onbuild=get_strs(d, "OnBuild", where),
            shell=get_strs(d, "Shell", where, None),
            args_escaped=get_bool(d, "ArgsEscaped", where),
            extra={k: v for k, v in d.items() if k not in known},
        )
