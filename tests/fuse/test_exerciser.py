"""An fsx-style randomized exerciser: read/write/truncate/fallocate/mmap/copy-up/remount on
the FUSE mount, every result checked against an in-memory model (100,000 operations in
all: four seeded runs of 25,000, with and without the kernel's passthrough)."""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from layerfs.mounts import fuse

from .conftest import Stack, force_umount

OPS_PER_RUN = 25_000
FILES = 6  # f0..f2 start in the lower layer (copied up on first write), f3..f5 are new
MAX_SIZE = 384 * 1024
KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE = 0x01, 0x02, 0x10

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def fallocate(fd: int, mode: int, offset: int, length: int) -> None:
    if _libc.fallocate(fd, mode, offset, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class Exerciser:
    """The mount, one open fd per file, and the model: name -> expected bytes."""

    def __init__(self, stack: Stack, mount: Callable[[], None], rng: random.Random) -> None:
        self.s = stack
        self.mount = mount
        self.rng = rng
        self.model: dict[str, bytearray] = {}
        self.fds: dict[str, int] = {}
        lower = Path(stack.lowers[1])
        for i in range(FILES // 2):
            data = rng.randbytes(rng.randrange(1, MAX_SIZE))
            (lower / f"f{i}").write_bytes(data)
            self.model[f"f{i}"] = bytearray(data)
        self.ops = 0

    def path(self, name: str) -> str:
        return self.s.m(name)

    def fd(self, name: str) -> int:
        if name not in self.fds:
            flags = os.O_RDWR | (os.O_CREAT if name not in self.model else 0)
            self.fds[name] = os.open(self.path(name), flags, 0o644)
            self.model.setdefault(name, bytearray())
        return self.fds[name]

    def close_all(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()

    # ----------------------------------------------------------------- operations

    def op_read(self, name: str) -> None:
        data = self.model.get(name)
        if data is None:
            return
        off = self.rng.randrange(0, len(data) + 1024)
        n = self.rng.randrange(1, 65536)
        if name in self.fds or self.rng.random() < 0.5:
            got = os.pread(self.fd(name), n, off)
        else:  # a read-only open of a lower file must not copy it up
            fd = os.open(self.path(name), os.O_RDONLY)
            try:
                got = os.pread(fd, n, off)
            finally:
                os.close(fd)
        assert got == bytes(data[off : off + n]), f"read {name} @{off}+{n} op {self.ops}"

    def op_write(self, name: str) -> None:
        fd = self.fd(name)
        data = self.model[name]
        off = self.rng.randrange(0, min(len(data) + 8192, MAX_SIZE))
        buf = self.rng.randbytes(self.rng.randrange(1, 32768))
        assert os.pwrite(fd, buf, off) == len(buf)
        if off > len(data):
            data.extend(bytes(off - len(data)))
        data[off : off + len(buf)] = buf

    def op_truncate(self, name: str) -> None:
        size = self.rng.randrange(0, MAX_SIZE)
        if name in self.model and self.rng.random() < 0.5:
            os.truncate(self.path(name), size)
        else:
            os.ftruncate(self.fd(name), size)
        data = self.model[name]
        if size < len(data):
            del data[size:]
        else:
            data.extend(bytes(size - len(data)))

    def op_fallocate(self, name: str) -> None:
        fd = self.fd(name)
        data = self.model[name]
        mode = self.rng.choice([0, KEEP_SIZE, PUNCH_HOLE | KEEP_SIZE, ZERO_RANGE])
        off = self.rng.randrange(0, MAX_SIZE)
        length = self.rng.randrange(1, 65536)
        fallocate(fd, mode, off, length)
        end = off + length
        if mode & (PUNCH_HOLE | ZERO_RANGE):
            lo, hi = min(off, len(data)), min(end, len(data))
            data[lo:hi] = bytes(hi - lo)
        if not mode & KEEP_SIZE and end > len(data):
            data.extend(bytes(end - len(data)))

    def op_mmap(self, name: str) -> None:
        fd = self.fd(name)
        data = self.model[name]
        if not data:
            return
        with mmap.mmap(fd, len(data), mmap.MAP_SHARED) as mm:
            off = self.rng.randrange(0, len(data))
            n = min(self.rng.randrange(1, 16384), len(data) - off)
            if self.rng.random() < 0.5:
                assert mm[off : off + n] == bytes(data[off : off + n]), f"mmap read {name}"
            else:
                buf = self.rng.randbytes(n)
                mm[off : off + n] = buf
                mm.flush()
                data[off : off + n] = buf

    def op_stat(self, name: str) -> None:
        if name in self.model:
            st = os.fstat(self.fd(name)) if self.rng.random() < 0.5 else os.stat(self.path(name))
            assert st.st_size == len(self.model[name]), f"size of {name} op {self.ops}"

    def op_reopen(self, name: str) -> None:
        fd = self.fds.pop(name, None)
        if fd is not None:
            os.close(fd)

    def remount(self) -> None:
        self.close_all()
        fuse.umount(self.s.merged)
        force_umount(self.s.merged)
        self.mount()
        self.verify_all()

    def verify_all(self) -> None:
        for name, data in self.model.items():
            assert Path(self.path(name)).read_bytes() == bytes(data), f"{name} op {self.ops}"

    def run(self, count: int) -> None:
        ops = [
            (self.op_read, 30), (self.op_write, 25), (self.op_truncate, 6),
            (self.op_fallocate, 6), (self.op_mmap, 8), (self.op_stat, 15),
            (self.op_reopen, 4),
        ]
        funcs = [f for f, _ in ops]
        weights = [w for _, w in ops]
        names = [f"f{i}" for i in range(FILES)]
        for self.ops in range(count):
            if self.ops and self.ops % 5000 == 0:
                self.remount()
            self.rng.choices(funcs, weights)[0](self.rng.choice(names))
        self.close_all()
        self.verify_all()


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("seed", "passthrough"), [(1, "on"), (2, "on"), (3, "off"), (4, "off")])
def test_random_operations_match_the_model(stack: Stack, seed: int, passthrough: str) -> None:
    if passthrough == "on" and os.geteuid() != 0:
        pytest.skip("FUSE passthrough needs root")
    rng = random.Random(seed)
    value = stack.mount_value(f"passthrough={passthrough}")
    ex = Exerciser(stack, lambda: fuse.mount(value, stack.merged), rng)
    fuse.mount(value, stack.merged)
    try:
        ex.run(OPS_PER_RUN)
    finally:
        ex.close_all()
    # copy-up happened for every lower file that was written; lower layers untouched
    for i in range(FILES // 2):
        assert os.path.exists(os.path.join(stack.upper, f"f{i}"))
