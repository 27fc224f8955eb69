"""Strict JSON field readers and the canonical encoder shared by the oci data model.

Every reader raises `InvalidInput` naming the field (with its dotted location, e.g.
``manifest.layers[2].size``) and what was wrong. Nothing here knows a media type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from layerfs.digest import Digest
from layerfs.errors import InvalidInput

_MISSING = object()


def load_object(data: bytes, what: str) -> dict[str, Any]:
    """Parse JSON bytes that must hold an object; InvalidInput (naming `what`) otherwise."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise InvalidInput(f"{what}: malformed JSON: {e}") from None
    return expect_object(obj, what)


def canonical(obj: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 (the bytes we hash)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def expect_object(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InvalidInput(f"{where}: expected an object, got {_kind(obj)}")
    return obj


def _kind(v: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(v), "null" if v is None else type(v).__name__
    )


def _get_typed(d: Mapping[str, Any], key: str, where: str, default: Any, ok: Any,
               kind: str) -> Any:
    v = d.get(key, _MISSING)
    if v is _MISSING or (v is None and default is not _MISSING):
        if default is _MISSING:
            raise InvalidInput(f"{where}.{key}: missing")
        return default
    if not ok(v):
        raise InvalidInput(f"{where}.{key}: expected {kind}, got {_kind(v)}")
    return v


def get_str(d: Mapping[str, Any], key: str, where: str, default: Any = _MISSING) -> Any:
    """`d[key]` as a str; `default` when absent (required when no default is given)."""
    return _get_typed(d, key, where, default, lambda v: isinstance(v, str), "a string")


def get_int(d: Mapping[str, Any], key: str, where: str, default: Any = _MISSING) -> Any:
    """`d[key]` as an int (never a bool or float)."""
    return _get_typed(d, key, where, default,
                      lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer")


def get_bool(d: Mapping[str, Any], key: str, where: str, default: bool = False) -> bool:
    v = d.get(key)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise InvalidInput(f"{where}.{key}: expected a boolean, got {_kind(v)}")
    return v


def get_digest(d: Mapping[str, Any], key: str, where: str) -> Digest:
    text = get_str(d, key, where)
    try:
        return Digest.parse(text)
    except InvalidInput as e:
        raise InvalidInput(f"{where}.{key}: {e}") from None


def get_list(d: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> list[Any]:
    v = d.get(key)
    if v is None:
        if required:
            raise InvalidInput(f"{where}.{key}: missing")
        return []
    if not isinstance(v, list):
        raise InvalidInput(f"{where}.{key}: expected an array, got {_kind(v)}")
    return v


def get_strs(
    d: Mapping[str, Any], key: str, where: str, default: Any = ()
) -> Any:
    """`d[key]` as a tuple of str; `default` when absent or null."""
    v = d.get(key)
    if v is None:
        return default
    if not isinstance(v, list):
        raise InvalidInput(f"{where}.{key}: expected an array of strings, got {_kind(v)}")
    for i, item in enumerate(v):
        if not isinstance(item, str):
            raise InvalidInput(f"{where}.{key}[{i}]: expected a string, got {_kind(item)}")
    return tuple(v)


def get_str_map(d: Mapping[str, Any], key: str, where: str) -> Mapping[str, str] | None:
    """`d[key]` as a read-only str->str mapping, or None when absent."""
    v = d.get(key)
    if v is None:
        return None
    expect_object(v, f"{where}.{key}")
    for k, item in v.items():
        if not isinstance(item, str):
            raise InvalidInput(f"{where}.{key}.{k}: expected a string, got {_kind(item)}")
    return frozen_map(v)


def get_key_set(d: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    """Docker's ``{"80/tcp": {}}`` sets (ExposedPorts, Volumes) as a sorted tuple of keys."""
    v = d.get(key)
    if v is None:
        return ()
    expect_object(v, f"{where}.{key}")
    return tuple(sorted(v))


def frozen_map(m: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """A read-only copy (None stays None)."""
    return None if m is None else MappingProxyType(dict(m))


def put(out: dict[str, Any], key: str, value: Any) -> None:
    """Set `key` only when `value` is meaningful (not None, not empty)."""
    if value is None:
        return
    if isinstance(value, tuple | list | dict | Mapping | str) and not value:
        return
    if isinstance(value, tuple):
        value = list(value)
    elif isinstance(value, Mapping):
        value = dict(value)
    out[key] = value
