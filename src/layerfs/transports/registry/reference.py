"""Registry references: `HOST/REPO[:TAG][@DIGEST]`, docker's defaults for short names.

`busybox` → registry-1.docker.io, `library/busybox`, tag `latest` (docker.io is the
default domain and `library/` its default namespace). A first component is a host when
it holds a `.` or `:` or is `localhost`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from layerfs.digest import Digest
from layerfs.errors import InvalidInput

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$")


@dataclass(frozen=True)
class RegistryRef:
    """A repository in a registry and a tag or digest in it."""

    host: str
    repository: str
    tag: str | None = "latest"
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> RegistryRef:
        """Parse a reference (without `docker://`); InvalidInput naming the bad part."""
        rest = text.removeprefix("//")
        digest = None
        if "@" in rest:
            rest, _, d = rest.partition("@")
            digest = Digest.parse(d)
        host, slash, path = rest.partition("/")
        if not slash or not ("." in host or ":" in host or host == "localhost"):
            host, path = DOCKER_HUB, rest
        if not _HOST.match(host):
            raise InvalidInput(f"reference {text!r}: invalid registry host {host!r}")
        tag: str | None = None
        last_slash = path.rfind("/")
        colon = path.rfind(":")
        if colon > last_slash:
            path, tag = path[:colon], path[colon + 1 :]
            if not _TAG.match(tag):
                raise InvalidInput(f"reference {text!r}: invalid tag {tag!r}")
        if host == DOCKER_HUB and "/" not in path:
            path = f"library/{path}"
        if not path or not all(_COMPONENT.match(c) for c in path.split("/")):
            raise InvalidInput(f"reference {text!r}: invalid repository {path!r}")
        if tag is None and digest is None:
            tag = "latest"
        return cls(host, path, tag, digest)

    @property
    def api_host(self) -> str:
        """Where the API lives (docker.io's is registry-1.docker.io)."""
        return DOCKER_HUB_API if self.host == DOCKER_HUB else self.host

    @property
    def reference(self) -> str:
        """The manifest reference for the API: the digest if given, else the tag."""
        return str(self.digest) if self.digest else str(self.tag)

    @property
    def name(self) -> str:
        """`host/repo:tag` (a store name for a pulled image)."""
        return f"{self.host}/{self.repository}:{self.tag or 'latest'}"

    def __str__(self) -> str:
        out = f"{self.host}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out
