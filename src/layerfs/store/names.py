"""Image names: `repository[:tag]` as docker and podman print them.

A name is kept as the user wrote its repository (no `docker.io/library/` prefix is added)
with the tag made explicit (`latest` by default): `busybox` → `busybox:latest`.
"""

from __future__ import annotations

import re

from layerfs.errors import InvalidInput

DEFAULT_TAG = "latest"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?)"
_REPO = re.compile(rf"^(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def split(name: str) -> tuple[str, str]:
    """(repository, tag) of a name; the tag defaults to `latest`. InvalidInput if malformed."""
    if not isinstance(name, str) or not name:
        raise InvalidInput("image name must not be empty")
    if "@" in name:
        raise InvalidInput(f"image name {name!r}: digest references cannot be used as names")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        repo, tag = name[:colon], name[colon + 1 :]
    else:
        repo, tag = name, DEFAULT_TAG
    if len(repo) > 255 or not _REPO.match(repo):
        raise InvalidInput(
            f"image name {name!r}: invalid repository {repo!r} (lower-case letters, digits,"
            " '.', '_', '-', '/' separated components)"
        )
    if not _TAG.match(tag):
        raise InvalidInput(f"image name {name!r}: invalid tag {tag!r}")
    return repo, tag


def normalize(name: str) -> str:
    """`repository:tag` with the default tag filled in."""
    repo, tag = split(name)
    return f"{repo}:{tag}"


def is_name(text: str) -> bool:
    """True if `text` parses as an image name."""
    try:
        split(text)
    except InvalidInput:
        return False
    return True
