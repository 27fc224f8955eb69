"""Limits: names of 255 and 256 bytes, union paths up to PATH_MAX, 500 lower layers.

The deep-path scenario puts objects 4095 bytes below the union root, so that every real
path of them (mount point or layer dir in front) is longer than PATH_MAX: both the front
end under test and the suite itself must work fd-relative there.
"""

from __future__ import annotations

import errno

import pytest

from .conftest import UnionFactory
from .fsutil import PATH_MAX
from .layers import Stack, dir_, file, opaque, whiteout
from .scenario import CHECK, Scenario, fails, ok, run

N255 = "n" * 255
M255 = "m" * 255
N256 = "n" * 256

NAME_LENGTHS = Scenario(
    "names-255-and-256-bytes",
    Stack(((file(N255, "long"), file(f"d/{N255}", "deep long"), dir_(M255)),)),
    (
        ok("read", f"/{N255}"),
        ok("append", f"/{N255}", b"+"),
        ok("unlink", f"/d/{N255}"),
        ok("write_file", f"/d/{M255}", b"new", 0o644),
        ok("rename", f"/d/{M255}", f"/{M255}/{N255}"),
        ok("symlink", N255, f"/d/{N255}"),
        fails(errno.ENAMETOOLONG, "write_file", f"/{N256}", b"", 0o644),
        fails(errno.ENAMETOOLONG, "mkdir", f"/d/{N256}", 0o755),
        fails(errno.ENAMETOOLONG, "symlink", "x", f"/{N256}"),
        fails(errno.ENAMETOOLONG, "rename", f"/{N255}", f"/{N256}"),
        fails(errno.ENAMETOOLONG, "lstat", f"/{N256}"),
        fails(errno.ENAMETOOLONG, "read", f"/{N256}/x"),
    ),
)

# 16 components of 250 bytes: "/c00..." + 15 more = 4016 bytes; a final name of 79 bytes
# makes a union path of exactly 4095 bytes (PATH_MAX with its NUL).
_COMPONENTS = [f"c{i:02}" + "x" * 247 for i in range(16)]
DEEP = "/".join(_COMPONENTS)
_LAST = PATH_MAX - 1 - len("/" + DEEP + "/")
assert len(f"/{DEEP}/" + "f" * _LAST) == PATH_MAX - 1


def _deep(name_char: str, length: int = _LAST) -> str:
    return f"/{DEEP}/" + name_char * length


PATH_MAX_PATHS = Scenario(
    "paths-near-path-max",
    Stack((
        (file(_deep("f")[1:], "deep file"), file(f"{DEEP}/keep", "keep")),
        (file(_deep("g")[1:], "deep below"), whiteout(_deep("w")[1:])),
    )),
    (
        ok("read", _deep("f")),
        ok("listdir", f"/{DEEP}"),
        ok("append", _deep("f"), b" appended"),
        CHECK,
        ok("unlink", _deep("g")),
        ok("write_file", _deep("h"), b"new deep", 0o600),
        ok("mkdir", _deep("e"), 0o755),
        ok("rename", _deep("h"), _deep("i")),
        ok("chmod", f"/{DEEP}/keep", 0o600),
        ok("setxattr", _deep("f"), "user.deep", b"yes"),
        fails(errno.ENAMETOOLONG, "write_file", _deep("j", _LAST + 1), b"", 0o644),
        fails(errno.ENAMETOOLONG, "lstat", _deep("f", _LAST + 1)),
    ),
)

LAYERS = 500


def _many_layers() -> Stack:
    """Every layer has /common and /d (so every lookup and readdir of them goes through
    all 500); every 25th layer adds its own names, whiteouts hide some of those below."""
    layers = []
    for i in range(LAYERS):
        entries = [file("common", f"layer {i}"), dir_(f"d/in{i % 2}")]
        if i % 25 == 0:
            entries += [file(f"f{i}", str(i)), file(f"d/x{i}", "x")]
        if i % 100 == 50:  # hide a file and a dir entry of the layers below
            entries += [whiteout(f"f{i + 25}"), whiteout(f"d/x{i + 50}")]
        if i == 100:
            entries += [opaque("o"), file("o/top", "top")]
        if i > 100 and i % 100 == 1:
            entries.append(file(f"o/hidden{i}", "hidden"))
        layers.append(tuple(entries))
    return Stack(tuple(layers))


MANY_LAYERS = Scenario(
    "500-lower-layers",
    _many_layers(),
    (
        ok("listdir", "/"),
        ok("listdir", "/d"),
        ok("listdir", "/o"),
        ok("read", "/common"),
        ok("read", f"/f{LAYERS - 100}"),
        fails(errno.ENOENT, "lstat", "/f75"),
        fails(errno.ENOENT, "lstat", "/d/x100"),
        ok("lstat", "/d/in1"),
        ok("append", f"/f{LAYERS - 100}", b"+"),
        ok("unlink", "/f250"),
        ok("write_file", "/d/new", b"n", 0o644),
    ),
)


@pytest.mark.root
@pytest.mark.parametrize("scenario", [pytest.param(s, id=s.name) for s in
                                      (NAME_LENGTHS, PATH_MAX_PATHS, MANY_LAYERS)])
def test_limit(scenario: Scenario, union: UnionFactory) -> None:
    run(union(scenario.stack, **scenario.options), scenario.steps)
