"""Property: for random trees, apply(write_tree_tar(tree)) reproduces the tree, and
writing the result again gives the very same bytes."""

from __future__ import annotations

import io
import os
import shutil
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerfs.archive.apply import apply_tar
from layerfs.archive.generate import write_tree_tar
from layerfs.union.whiteouts import WhiteoutFormat

from .tars import snapshot

NAMES = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                       blacklist_characters="/\x00"),
                min_size=1, max_size=40).filter(
    lambda n: n not in (".", "..") and not n.startswith(".wh.") and
    len(n.encode()) <= 255)

LEAF = st.one_of(
    st.tuples(st.just("file"), st.binary(max_size=3000), st.sampled_from([0o644, 0o600, 0o755,
                                                                          0o4755, 0o000])),
    st.tuples(st.just("symlink"), st.text(min_size=1, max_size=60).filter(
        lambda t: "\x00" not in t and not any("\ud800" <= c <= "\udfff" for c in t)), st.just(0)),
)
TREE = st.recursive(LEAF, lambda children: st.tuples(
    st.just("dir"), st.dictionaries(NAMES, children, max_size=5),
    st.sampled_from([0o755, 0o700, 0o555])), max_leaves=25)


def build(path: str, node) -> None:
    kind, payload, mode = node
    if kind == "file":
        with open(path, "wb") as fh:
            fh.write(payload)
        os.chmod(path, mode)
    elif kind == "symlink":
        os.symlink(payload, path)
    else:
        os.mkdir(path)
        for name, child in payload.items():
            build(os.path.join(path, name), child)
        os.chmod(path, mode)
    os.utime(path, (1_234_567_890, 1_234_567_890), follow_symlinks=False)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(NAMES, TREE, min_size=1, max_size=6))
def test_round_trip(top):
    base = tempfile.mkdtemp(prefix="layerfs-prop-")
    try:
        src, dst = os.path.join(base, "src"), os.path.join(base, "dst")
        build(src, ("dir", top, 0o755))
        first = io.BytesIO()
        write_tree_tar(src, first)
        os.mkdir(dst)
        apply_tar(io.BytesIO(first.getvalue()), dst, fmt=WhiteoutFormat.default())
        assert snapshot(dst) == snapshot(src)
        again = io.BytesIO()
        write_tree_tar(dst, again)
        assert again.getvalue() == first.getvalue()
    finally:
        for dirpath, dirnames, _ in os.walk(base):
            for n in dirnames:
                p = os.path.join(dirpath, n)
                if not os.path.islink(p):
                    os.chmod(p, 0o755)
        shutil.rmtree(base)
