"""`Mount`: a mount described as data (containerd's model).

A snapshot or a CLI command produces `Mount` values; only `mounts/kernel.py` and
`mounts/fuse/` turn them into real mounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mount:
    """type: "overlay", "bind", "fuse.layerfs"...; source: what is mounted; options: as for
    mount(8), one element per comma-separated option (``lowerdir=A:B`` is one element)."""

    type: str
    source: str
    options: tuple[str, ...] = field(default_factory=tuple)

    def option(self, key: str) -> str | None:
        """The value of `key=value` in options, None if absent ("" for a bare flag)."""
        for opt in self.options:
            k, sep, v = opt.partition("=")
            if k == key:
                return v if sep else ""
        return None

    def to_dict(self) -> dict[str, object]:
        return {"type": self.type, "source": self.source, "options": list(self.options)}
