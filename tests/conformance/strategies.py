"""Hypothesis strategies: random layer stacks and operation arguments over a tiny name space.

Names are "a", "b" and "c" at every level, at most three levels deep, so that random
operations keep meeting each other and the objects of the lower layers. Lower layers hold
files (some setuid, some owned by uid 1000, some with a user xattr), dirs, opaque dirs,
symlinks (relative, absolute, dangling, into the tree), whiteouts, FIFOs and hard links;
never a whiteout inside an opaque directory (the kernel calls that corrupt).
"""

from __future__ import annotations

from hypothesis import strategies as st

from .layers import (
    FIXED_TIME_NS,
    Entry,
    Stack,
    dir_,
    fifo,
    file,
    hardlink,
    opaque,
    symlink,
    whiteout,
)

NAMES = ("a", "b", "c")
MAX_DEPTH = 3
SYMLINK_TARGETS = ("a", "b/c", "../a", "/a", "/b/a", "nowhere", "/")
DATA = (b"", b"x", b"hello", b"0123456789" * 5)
FILE_MODES = (0o644, 0o600, 0o755, 0o4755)
# No sticky world-writable dirs: there the VFS refuses O_CREAT on an existing object the
# caller and the dir owner do not own (may_create_in_sticky; for a symlink whatever the
# sysctls say) with EACCES, before the union is asked. That rule has its own scenario
# (test_scenarios.STICKY_DIR_CREATE); random sequences would keep finding only it.
DIR_MODES = (0o755, 0o700, 0o1775)
IDS = (0, 1000)
XATTR_NAMES = ("user.a", "user.b")
XATTR_VALUES = (b"", b"1", b"value")
TIMES = (FIXED_TIME_NS - 10**9, 1_000_000_000_000_000_000, 0)

# Shallow paths more often than deep ones (depth 3 only below /a/a and /b/a): most
# operations should meet an existing object, not fail with ENOENT/ENOTDIR.
PATHS = (
    *[f"/{a}" for a in NAMES for _ in range(4)],
    *[f"/{a}/{b}" for a in NAMES for b in NAMES for _ in range(2)],
    *[f"/{a}/a/{c}" for a in NAMES[:2] for c in NAMES],
)
paths = st.sampled_from(PATHS)
data = st.sampled_from(DATA)
file_modes = st.sampled_from(FILE_MODES)
dir_modes = st.sampled_from(DIR_MODES)
ids = st.sampled_from(IDS)
targets = st.sampled_from(SYMLINK_TARGETS)
xattr_names = st.sampled_from(XATTR_NAMES)
xattr_values = st.sampled_from(XATTR_VALUES)
times = st.tuples(st.sampled_from(TIMES), st.sampled_from(TIMES))
lengths = st.sampled_from((0, 1, 3, 100))

# Kind weights per depth (repetition = weight).
_KINDS = {
    1: ("dir",) * 8 + ("file",) * 5 + ("absent",) * 2 + ("whiteout",) * 2
    + ("opaque", "symlink", "fifo"),
    2: ("file",) * 8 + ("dir",) * 3 + ("absent",) * 4 + ("whiteout",) * 2
    + ("opaque", "symlink", "fifo"),
    3: ("file",) * 4 + ("absent",) * 3 + ("whiteout", "symlink"),
}


@st.composite
def _level(draw: st.DrawFn, prefix: str, depth: int, in_opaque: bool) -> list[Entry]:
    entries: list[Entry] = []
    for name in NAMES:
        path = prefix + name
        kind = draw(st.sampled_from(_KINDS[depth]))
        if kind == "whiteout" and in_opaque:
            kind = "absent"
        if kind == "file":
            xattrs = draw(st.sampled_from(((), (("user.a", b"lower"),))))
            entries.append(file(path, draw(data), draw(file_modes), uid=draw(ids),
                                xattrs=xattrs))
        elif kind in ("dir", "opaque"):
            entries.append(dir_(path, draw(dir_modes)) if kind == "dir" else opaque(path))
            entries += draw(_level(path + "/", depth + 1, in_opaque or kind == "opaque"))
        elif kind == "symlink":
            entries.append(symlink(path, draw(targets)))
        elif kind == "whiteout":
            entries.append(whiteout(path))
        elif kind == "fifo":
            entries.append(fifo(path))
    return entries


@st.composite
def _layer(draw: st.DrawFn) -> tuple[Entry, ...]:
    entries = draw(_level("", 1, False))
    files = [e.path for e in entries if e.kind == "file"]
    free = [n for n in NAMES if not any(e.path == n for e in entries)]
    if files and free and draw(st.booleans()):
        entries.append(hardlink(draw(st.sampled_from(free)), draw(st.sampled_from(files))))
    return tuple(entries)


def _merged_whiteouts_only(layers: list[tuple[Entry, ...]]) -> Stack:
    """Drop whiteouts whose directory is not merged with the layer just below.

    The kernel reads a directory that exists in one layer only straight from that layer,
    so its whiteouts show up in readdir (d_type DT_CHR) although lookup says ENOENT. That
    quirk has its own named scenario (test_scenarios.WHITEOUT_IN_UNMERGED_DIR); random
    stacks avoid it so that it does not hide everything else.
    """
    kept = []
    for i, layer in enumerate(layers):
        below = layers[i + 1] if i + 1 < len(layers) else ()
        below_dirs = {e.path for e in below if e.kind in ("dir", "opaque")}
        plain_dirs = {e.path for e in layer if e.kind == "dir"}
        kept.append(tuple(e for e in layer if e.kind != "whiteout" or _merged(
            e.path, plain_dirs, below_dirs)))
    return Stack(tuple(kept))


def _merged(path: str, plain_dirs: set[str], below_dirs: set[str]) -> bool:
    parent = path.rpartition("/")[0]
    if not parent:
        return True  # the root of every layer is merged
    ancestors = [parent]
    while "/" in ancestors[-1]:
        ancestors.append(ancestors[-1].rpartition("/")[0])
    return parent in below_dirs and all(a in plain_dirs for a in ancestors)


stacks = st.lists(_layer(), min_size=2, max_size=3).map(_merged_whiteouts_only)
