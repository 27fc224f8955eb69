"""The wire layer and option handling, without mounting anything."""

from __future__ import annotations

import os

import pytest

from layerfs.errors import InvalidOption
from layerfs.mounts.fuse import attrs, helper
from layerfs.mounts.fuse import protocol as p
from layerfs.mounts.fuse.daemon import config_of
from layerfs.mounts.mount import Mount

# Sizes from linux/fuse.h (7.45): the kernel rejects replies of any other size.
SIZES = {
    "IN_HEADER": 40,
    "OUT_HEADER": 16,
    "ATTR": 88,
    "ENTRY_OUT": 40,
    "ATTR_OUT": 16,
    "INIT_OUT": 64,
    "SETATTR_IN": 88,
    "OPEN_OUT": 16,
    "READ_IN": 40,
    "WRITE_IN": 40,
    "STATFS_OUT": 80,
    "CREATE_IN": 16,
    "RELEASE_IN": 24,
    "FALLOCATE_IN": 32,
    "LSEEK_IN": 24,
    "COPY_FILE_RANGE_IN": 56,
    "BACKING_MAP": 16,
    "DIRENT": 24,
}


@pytest.mark.parametrize(("name", "size"), sorted(SIZES.items()))
def test_struct_sizes(name: str, size: int) -> None:
    assert getattr(p, name).size == size


def test_dirent_padding() -> None:
    for n in range(1, 20):
        raw = p.dirent(5, 1, b"x" * n, 8)
        assert len(raw) % 8 == 0
        assert len(raw) == p.dirent_size(n)


def test_split_names() -> None:
    assert p.split_names(memoryview(b"old\0new\0"), 2) == [b"old", b"new"]
    assert p.split_names(memoryview(b"name\0"), 1) == [b"name"]
    with pytest.raises(ValueError):
        p.split_names(memoryview(b"only"), 2)


def test_device_numbers_round_trip() -> None:
    st = os.stat("/dev/null")  # character device 1:3
    fields = p.ATTR.unpack(attrs.pack_attr(st, 77))
    assert fields[0] == 77  # the reported inode number, not the real one
    assert attrs.decode_dev(fields[13]) == st.st_rdev
    for major, minor in [(0, 0), (8, 17), (259, 70000)]:
        enc = (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)
        assert attrs.decode_dev(enc) == os.makedev(major, minor)


def test_ioctl_numbers() -> None:
    # _IOR(229, 0, u32), _IOW(229, 1, 16 bytes), _IOW(229, 2, u32)
    assert p.DEV_IOC_CLONE == (2 << 30) | (4 << 16) | (229 << 8) | 0
    assert p.DEV_IOC_BACKING_OPEN == (1 << 30) | (16 << 16) | (229 << 8) | 1
    assert p.DEV_IOC_BACKING_CLOSE == (1 << 30) | (4 << 16) | (229 << 8) | 2


def test_config_separates_fuse_options() -> None:
    m = Mount("fuse.layerfs", "src", (
        "lowerdir=/a:/b", "upperdir=/u", "workdir=/w", "allow_other", "threads=3",
        "passthrough=off", "redirect_dir=off", "noauto",
    ))
    cfg = config_of(m)
    assert cfg.overlay.lowerdirs == ("/a", "/b")
    assert (cfg.allow_other, cfg.threads, cfg.passthrough) == (True, 3, False)
    assert cfg.overlay.setting("redirect_dir") == "off"
    assert not cfg.readonly


def test_config_readonly_without_upper() -> None:
    assert config_of(Mount("fuse.layerfs", "x", ("lowerdir=/a",))).readonly


@pytest.mark.parametrize("opts", [
    ("upperdir=/u", "workdir=/w"),
    ("lowerdir=/a", "upperdir=/u"),
    ("lowerdir=/a", "threads=0"),
    ("lowerdir=/a", "passthrough=maybe"),
    ("lowerdir=/a", "lowerdirs=/b"),
])
def test_config_rejects(opts: tuple[str, ...]) -> None:
    with pytest.raises(InvalidOption):
        config_of(Mount("fuse.layerfs", "x", opts))


def test_helper_arguments() -> None:
    m, target, fg = helper.parse_args(
        ["src", "/mnt", "-o", "rw,lowerdir=/a\\,b:/c,upperdir=/u,workdir=/w", "-n"]
    )
    assert (m.type, m.source, target, fg) == ("fuse.layerfs", "src", "/mnt", False)
    assert m.options == ("rw", "lowerdir=/a\\,b:/c", "upperdir=/u", "workdir=/w")
    assert config_of(m).overlay.lowerdirs == ("/a,b", "/c")
    with pytest.raises(ValueError):
        helper.parse_args(["only-one"])


def test_helper_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert helper.main(["a"]) == 2
    assert "usage" in capsys.readouterr().err
