"""export: the flattened union of an image's layers as one plain tar."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile

from archive.tars import d, f, sym, tar_bytes, wh
from layerfs.store.export import export_image
from layerfs.store.put import add_image
from layerfs.store.store import Store
from store.helpers import MemoryImage

L1 = tar_bytes(
    [
        d("etc"),
        f("etc/keep", b"keep\n"),
        f("etc/gone", b"gone\n"),
        d("var"),
        d("var/cache"),
        f("var/cache/old", b"old\n"),
        sym("bin", "usr/bin"),
    ]
)
L2 = tar_bytes(
    [
        d("etc"),
        wh("etc/.wh.gone"),
        f("etc/keep", b"changed\n", 0o600),
        d("var/cache"),
        wh("var/cache/.wh..wh..opq"),
        f("var/cache/new", b"new\n"),
    ]
)


def test_export_flattens_whiteouts_and_opaque(store: Store) -> None:
    add_image(store, MemoryImage([L1, L2]), ["x"])
    out = io.BytesIO()
    size = export_image(store, "x", out)
    assert size == len(out.getvalue())
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        members = {m.name.rstrip("/").removeprefix("./"): m for m in tf.getmembers()}
        data = {n: tf.extractfile(m).read() for n, m in members.items() if m.isfile()}  # type: ignore[union-attr]
    assert sorted(members) == ["bin", "etc", "etc/keep", "var", "var/cache", "var/cache/new"]
    assert data == {"etc/keep": b"changed\n", "var/cache/new": b"new\n"}
    assert members["etc/keep"].mode == 0o600
    assert members["bin"].issym() and members["bin"].linkname == "usr/bin"
    assert not any(".wh." in n for n in members)
    # the layers are untouched by the export (hard links, no writes)
    for layer in store.image("x").store_layers():
        assert layer.path
    from layerfs.store.fsck import fsck

    assert fsck(store, deep=True).clean


def test_import_dir_then_export_round_trip(store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from archive.tars import snapshot
    from layerfs.store.rootfs import import_rootfs

    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    (src / "bin/tool").write_bytes(b"\x7fELF tool")
    os.chmod(src / "bin/tool", 0o4755)
    os.link(src / "bin/tool", src / "bin/tool2")
    os.symlink("tool", src / "bin/alias")
    (src / "empty").mkdir()
    (src / "ro").mkdir()
    (src / "ro/file").write_text("read only dir\n")
    os.chmod(src / "ro", 0o555)
    os.setxattr(src / "bin/tool", "user.comment", b"hello")
    import_rootfs(store, str(src), ["rt"])
    out = io.BytesIO()
    export_image(store, "rt", out)
    dest = tmp_path / "dest"
    dest.mkdir()
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        assert tf.getmember("bin/tool2").islnk() or tf.getmember("bin/tool").islnk()
    # GNU tar is the reference reader
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "-xpf", "-", "-C", str(dest)],
        input=out.getvalue(),
        check=True,
    )
    want, got = snapshot(str(src)), snapshot(str(dest))
    if os.geteuid() != 0:  # an unprivileged import drops setuid bits (untrusted input)
        want["bin/tool"] = (*want["bin/tool"][:1], 0o755, *want["bin/tool"][2:])
        want["bin/tool2"] = want["bin/tool"]
    assert got == want
