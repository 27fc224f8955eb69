"""Registry authentication: credentials from auth files or `--creds`, and challenges.

Credentials are looked up as podman and docker do: `$REGISTRY_AUTH_FILE`,
`$XDG_RUNTIME_DIR/containers/auth.json`, `~/.config/containers/auth.json`,
`~/.docker/config.json` (first file naming the host wins; docker.io also matches
`https://index.docker.io/v1/`). A `WWW-Authenticate` challenge is parsed into its scheme
and parameters (RFC 7235: quoted strings, commas inside quotes).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass, field

from layerfs.errors import InvalidInput

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or identity token as the password)."""

    username: str
    password: str = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> Credentials:
        """`USER[:PASSWORD]` as `--creds` takes it."""
        user, _, password = text.partition(":")
        if not user:
            raise InvalidInput("--creds: expected USER[:PASSWORD]")
        return cls(user, password)

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@dataclass(frozen=True)
class Challenge:
    """A `WWW-Authenticate` challenge: scheme (lower case) and parameters."""

    scheme: str
    params: dict[str, str]

    @classmethod
    def parse(cls, header: str) -> Challenge:
        scheme, _, rest = header.strip().partition(" ")
        params: dict[str, str] = {}
        pos = 0
        while pos < len(rest):
            m = _PARAM.match(rest, pos)
            if not m or m.end() == pos:
                break
            value = m.group(2) if m.group(2) is not None else m.group(3)
            params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
            pos = m.end()
        return cls(scheme.lower(), params)


def auth_files() -> list[str]:
    """The credential files consulted, in order."""
    home = os.path.expanduser("~")
    out = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        out.append(os.environ["REGISTRY_AUTH_FILE"])
    if os.environ.get("XDG_RUNTIME_DIR"):
        out.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "containers", "auth.json"))
    out.append(os.path.join(home, ".config", "containers", "auth.json"))
    out.append(os.path.join(home, ".docker", "config.json"))
    return out


def _keys(host: str) -> list[str]:
    keys = [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]
    if host in ("docker.io", "registry-1.docker.io", "index.docker.io"):
        keys += ["docker.io", "https://index.docker.io/v1/", "index.docker.io"]
    return keys


def lookup(host: str, files: list[str] | None = None) -> Credentials | None:
    """Credentials for `host` from the auth files; None when no file names it.

    A malformed file raises InvalidInput naming the file and field.
    """
    for path in auth_files() if files is None else files:
        try:
            with open(path, "rb") as f:
                data = json.loads(f.read(1 << 20))
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as e:
            raise InvalidInput(f"{path}: unreadable credentials file: {e}") from None
        auths = data.get("auths") if isinstance(data, dict) else None
        if not isinstance(auths, dict):
            continue
        for key in _keys(host):
            entry = auths.get(key)
            if isinstance(entry, dict) and isinstance(entry.get("auth"), str):
                return _decode(entry["auth"], f"{path}: auths.{key}.auth")
    return None


def _decode(value: str, where: str) -> Credentials:
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidInput(f"{where}: not base64 of USER:PASSWORD") from None
    if not sep or not user:
        raise InvalidInput(f"{where}: not base64 of USER:PASSWORD")
    return Credentials(user, password)
