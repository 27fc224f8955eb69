"""Build arguments: ARG scoping as docker does it.

- `--build-arg K=V` overrides a declared default; `--build-arg K` takes V from the
  environment of the caller (absent there: not set).
- ARGs before the first FROM are the *global* scope: usable in FROM lines only; inside a
  stage `ARG NAME` without a default brings the global value in.
- Each stage starts with an empty scope; an ARG is visible from its declaration to the
  end of its stage. Declared args are in the environment of RUN (and in its cache key).
- Predefined args usable without an ARG line in RUN (but kept out of history and of
  the cache key, as docker does): the proxy variables.
- Platform args (`TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT`,
  `BUILDPLATFORM`, `BUILDOS`, `BUILDARCH`, `BUILDVARIANT`) are in the global scope;
  a stage uses one after `ARG TARGETARCH`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from layerfs.errors import InvalidInput
from layerfs.oci.platform import Platform

PROXY_ARGS = tuple(
    n
    for base in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
    for n in (base, base.lower())
)


def parse_build_args(items: Iterable[str], environ: Mapping[str, str] | None = None
                     ) -> dict[str, str]:
    """`K=V` strings (and bare `K`, taken from `environ`) as a dict; later ones win."""
    env = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise InvalidInput(f"invalid build arg {item!r}: expected KEY=VALUE")
        if eq:
            out[key] = value
        elif key in env:
            out[key] = env[key]
    return out


def platform_args(platform: Platform | None = None) -> dict[str, str]:
    """The platform args (target = build = this host; layerfs does not cross-build)."""
    p = platform or Platform.host()
    spec = f"{p.os}/{p.architecture}" + (f"/{p.variant}" if p.variant else "")
    out: dict[str, str] = {}
    for prefix in ("TARGET", "BUILD"):
        out[f"{prefix}PLATFORM"] = spec
        out[f"{prefix}OS"] = p.os
        out[f"{prefix}ARCH"] = p.architecture
        out[f"{prefix}VARIANT"] = p.variant or ""
    return out


@dataclass(frozen=True)
class ArgScope:
    """The ARGs declared so far in one scope (global or a stage), with their values.

    `values` maps a declared name to its value, None when declared without a value
    (then it expands to "" and is not in RUN's environment). A change makes a new scope.
    """

    build_args: Mapping[str, str] = field(default_factory=dict, hash=False)
    globals: Mapping[str, str] = field(default_factory=dict, hash=False)
    values: Mapping[str, str | None] = field(default_factory=dict, hash=False)

    def declare(self, name: str, default: str | None) -> ArgScope:
        """The scope after `ARG name[=default]`: the build arg wins, then the default,
        then (no default) the global value."""
        if name in self.build_args:
            value: str | None = self.build_args[name]
        elif default is not None:
            value = default
        else:
            value = self.globals.get(name)
        return ArgScope(self.build_args, self.globals, {**self.values, name: value})

    def expansion_env(self, env: Mapping[str, str] = {}) -> dict[str, str]:
        """Variables for `$X` in instructions: declared args, then ENV (ENV wins)."""
        out = {k: v for k, v in self.values.items() if v is not None}
        out.update(env)
        return out

    def run_env(self) -> dict[str, str]:
        """Args RUN sees in its environment: declared ones, plus proxies given."""
        out = {k: v for k, v in self.build_args.items() if k in PROXY_ARGS}
        out.update({k: v for k, v in self.values.items() if v is not None})
        return out

    def cache_scope(self) -> dict[str, str]:
        """Declared args with values: part of RUN's cache key (proxies excluded)."""
        return {k: v for k, v in sorted(self.values.items()) if v is not None}

    def stage_scope(self) -> ArgScope:
        """A fresh scope for a new stage; called on the global scope, its values become
        the globals `ARG NAME` brings in."""
        kept = {k: v for k, v in self.values.items() if v is not None}
        return ArgScope(self.build_args, {**self.globals, **kept}, {})


def global_scope(build_args: Mapping[str, str], platform: Platform | None = None) -> ArgScope:
    """The scope before the first FROM: platform args declared, build args given."""
    values: dict[str, str | None] = dict(platform_args(platform))
    return ArgScope(dict(build_args), {}, values)


def unused_build_args(build_args: Mapping[str, str], used: Iterable[str]) -> list[str]:
    """Build args given but never declared (docker's "were not consumed" warning)."""
    seen = set(used) | set(PROXY_ARGS)
    return sorted(k for k in build_args if k not in seen)
