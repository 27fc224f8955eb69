"""Platforms (os/architecture/variant) as in the OCI image index."""

from __future__ import annotations

import platform as _host
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from layerfs.errors import InvalidInput
from layerfs.oci._json import expect_object, get_str, get_strs, put

# Go's GOARCH names for what Python's platform.machine() reports
_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}
# the variant assumed when an index entry names none (containerd's platforms.Normalize)
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}


@dataclass(frozen=True)
class Platform:
    """One platform; `str()` gives ``os/arch[/variant]`` as `--platform` takes it."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``os/arch[/variant]`` (``linux/arm64/v8``); InvalidInput otherwise."""
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise InvalidInput(f"platform {text!r}: expected os/arch[/variant]")
        arch = _ARCH.get(parts[1], parts[1])
        return cls(parts[0], arch, parts[2] if len(parts) == 3 else None)

    @classmethod
    def host(cls) -> Platform:
        """This machine's platform (linux and Go's architecture name)."""
        machine = _host.machine()
        arch = _ARCH.get(machine, machine)
        variant = "v7" if machine == "armv7l" else "v6" if machine == "armv6l" else None
        return cls("linux", arch, variant)

    def normalized_variant(self) -> str | None:
        return self.variant or _DEFAULT_VARIANT.get(self.architecture)

    def matches(self, other: Platform) -> bool:
        """True if an image for `other` runs as this platform (os, arch, variant agree)."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        if self.variant is None:
            return True
        return self.normalized_variant() == other.normalized_variant()

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        put(out, "variant", self.variant)
        put(out, "os.version", self.os_version)
        put(out, "os.features", self.os_features)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "platform") -> Platform:
        expect_object(d, where)
        return cls(
            os=get_str(d, "os", where),
            architecture=get_str(d, "architecture", where),
            variant=get_str(d, "variant", where, None) or None,
            os_version=get_str(d, "os.version", where, None),
            os_features=get_strs(d, "os.features", where),
        )
