"""The one exception tree of layerfs.

Every error layerfs raises on purpose is a `LayerfsError`. Leaves also subclass the
built-in that fits (`BlobNotFound(KeyError)`, `InvalidOption(ValueError)`), so callers
that know nothing of layerfs can still catch them.

Union operations are the exception: `layerfs.union` raises plain `OSError`s carrying the
kernel's errno (built with `oserror`), because that is the contract of a filesystem; the
FUSE server turns them into errnos and the CLI into messages.
"""

from __future__ import annotations

import os


class LayerfsError(Exception):
    """Base of every error layerfs raises on purpose."""


class InvalidInput(LayerfsError, ValueError):
    """Input from outside (options, files, manifests) that is not acceptable.

    The message names what was wrong; nothing was written when this is raised.
    """


class InvalidOption(InvalidInput):
    """A mount option or command-line option that cannot be used."""


class InvalidLayer(InvalidInput):
    """A layer directory or layer tar that is malformed or hostile."""


class DigestMismatch(InvalidInput):
    """Content whose sha256 differs from the digest it was announced with."""


class NotFound(LayerfsError, KeyError):
    """A named thing (image, layer, container, blob) that does not exist."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want the message
        return str(self.args[0]) if self.args else ""


class BlobNotFound(NotFound):
    """A blob that is not in the store."""


class BuildFailed(LayerfsError):
    """A build step that ran and failed (a RUN command's non-zero exit code)."""


class Conflict(LayerfsError):
    """An operation that conflicts with the current state (name in use, still referenced)."""


class PermissionDenied(LayerfsError, PermissionError):
    """The caller lacks a privilege the operation needs (and no fallback applies)."""


class MountError(LayerfsError, OSError):
    """A mount or umount that the kernel (or fusermount3) refused."""


class Unsupported(LayerfsError):
    """Something this machine or kernel cannot do; the message says what is missing."""


def oserror(code: int, path: str | os.PathLike[str] | None = None) -> OSError:
    """An `OSError` for errno `code` (the right subclass, e.g. FileNotFoundError)."""
    if path is None:
        return OSError(code, os.strerror(code))
    return OSError(code, os.strerror(code), os.fspath(path))


__all__ = [
    "BlobNotFound",
    "BuildFailed",
    "Conflict",
    "DigestMismatch",
    "InvalidInput",
    "InvalidLayer",
    "InvalidOption",
    "LayerfsError",
    "MountError",
    "NotFound",
    "PermissionDenied",
    "Unsupported",
    "oserror",
]

