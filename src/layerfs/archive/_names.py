"""Tar member names: validation and splitting, shared by apply and generate.

A member name is accepted only as a relative path of real components: no NUL, not
absolute, no ``..``, every component at most 255 bytes, the whole at most PATH_MAX-1
bytes. ``./`` prefixes, ``.`` components and repeated or trailing slashes are dropped,
so ``./a//b/`` is ``("a", "b")`` and ``./`` is ``()`` (the layer root).
"""

from __future__ import annotations

import os

from layerfs.errors import InvalidLayer

NAME_MAX = 255
PATH_MAX = 4096


def split_name(name: str, what: str = "member") -> tuple[str, ...]:
    """The components of a member (or link target) name; InvalidLayer when unsafe."""
    if "\x00" in name:
        raise InvalidLayer(f"{what} {name!r}: name contains a NUL byte")
    if name.startswith("/"):
        raise InvalidLayer(f"{what} {name!r}: absolute name")
    raw = os.fsencode(name)
    if len(raw) >= PATH_MAX:
        raise InvalidLayer(f"{what} {name[:64]!r}...: name longer than PATH_MAX ({len(raw)} bytes)")
    parts = tuple(p for p in name.split("/") if p and p != ".")
    for p in parts:
        if p == "..":
            raise InvalidLayer(f"{what} {name!r}: '..' in name")
        if len(os.fsencode(p)) > NAME_MAX:
            raise InvalidLayer(f"{what} {name[:64]!r}...: a component is longer than 255 bytes")
    return parts


def join(parts: tuple[str, ...]) -> str:
    """The canonical relative name of `parts` ("." for the root)."""
    return "/".join(parts) if parts else "."
