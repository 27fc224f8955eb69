"""The request loop: INIT negotiation, worker threads reading /dev/fuse, dispatch, replies.

`Session.run` returns when the kernel ends the connection (the mount was unmounted: reads
fail with ENODEV) or on DESTROY. Each worker reads whole requests into its own buffer
(one request per read, as the device guarantees), calls the handler and writes the reply
with one writev. Handler errors become ``-errno`` replies; an unexpected exception is
logged and answered with EIO, so no request kills the daemon.
"""

from __future__ import annotations

import errno
import os
import sys
import threading
import traceback
from collections.abc import Callable

from layerfs.mounts.fuse import device, ops_dirs, ops_files, ops_meta, ops_names
from layerfs.mounts.fuse import protocol as p
from layerfs.mounts.fuse.core import Filesystem, Request

Handler = Callable[[Filesystem, Request, memoryview], bytes | None]

MAX_WRITE = 1 << 20
MAX_PAGES = MAX_WRITE // 4096
BUFSIZE = MAX_WRITE + 4096 + 256
READAHEAD = 1 << 20

HANDLERS: dict[int, Handler] = {
    **ops_meta.HANDLERS,
    **ops_names.HANDLERS,
    **ops_files.HANDLERS,
    **ops_dirs.HANDLERS,
}

_WANTED = (
    p.ASYNC_READ
    | p.ATOMIC_O_TRUNC
    | p.BIG_WRITES
    | p.PARALLEL_DIROPS
    | p.MAX_PAGES
    | p.CACHE_SYMLINKS
    | p.INIT_EXT
    | p.DIRECT_IO_ALLOW_MMAP
)
# Explicitly not wanted: DO_READDIRPLUS / READDIRPLUS_AUTO (see ops_dirs), WRITEBACK_CACHE
# (the kernel would own mtime and size, and defer writes past our copy-up decisions).


class Session:
    """One FUSE connection serving `fs` over the device fd `fd` (owned by the session)."""

    def __init__(self, fs: Filesystem, fd: int, *, threads: int = 2,
                 passthrough: bool | None = None) -> None:
        self.fs = fs
        self.fd = fd
        self.threads = max(1, threads)
        self.want_passthrough = os.geteuid() == 0 if passthrough is None else passthrough
        self.proto_minor = 0
        self._stop = threading.Event()

    # ------------------------------------------------------------------ INIT

    def init(self) -> None:
        """Answer the kernel's INIT (blocking until it arrives)."""
        buf = bytearray(BUFSIZE)
        while True:
            n = self._read(self.fd, buf)
            if n is None:
                raise ConnectionError("FUSE connection ended before INIT")
            mv = memoryview(buf)[:n]
            _len, opcode, unique, *_ = p.IN_HEADER.unpack_from(mv)
            if opcode != p.Op.INIT:
                self._reply_error(self.fd, unique, errno.EIO)
                continue
            if self._negotiate(unique, mv[p.IN_HEADER.size :]):
                return

    def _negotiate(self, unique: int, body: memoryview) -> bool:
        major, minor, max_readahead, flags = p.INIT_IN.unpack_from(body)[:4]
        if major > p.KERNEL_MAJOR:
            # Answer with our major only; the kernel sends a new INIT.
            self._reply(self.fd, unique, p.INIT_OUT.pack(p.KERNEL_MAJOR, p.KERNEL_MINOR,
                                                        *([0] * 11)))
            return False
        if major < p.KERNEL_MAJOR:
            self._reply_error(self.fd, unique, errno.EPROTO)
            raise ConnectionError(f"kernel FUSE protocol {major}.{minor} is too old")
        kernel = flags
        if flags & p.INIT_EXT:
            kernel |= p.INIT_IN.unpack_from(body)[4] << 32
        want = _WANTED
        if self.want_passthrough:
            want |= p.PASSTHROUGH
        got = want & kernel
        self.fs.passthrough = bool(got & p.PASSTHROUGH)
        self.fs.dev_fd = self.fd
        self.proto_minor = min(minor, p.KERNEL_MINOR)
        out = p.INIT_OUT.pack(
            p.KERNEL_MAJOR,
            self.proto_minor,
            min(max_readahead, READAHEAD),
            got & 0xFFFFFFFF,
            64,
            48,
            MAX_WRITE,
            1,
            MAX_PAGES,
            0,
            got >> 32,
            1 if self.fs.passthrough else 0,
            0,
        )
        self._reply(self.fd, unique, out)
        return True

    # ------------------------------------------------------------------ loop

    def run(self) -> None:
        """Serve until the connection ends; closes every fd of the session."""
        fds = [self.fd]
        for _ in range(self.threads - 1):
            try:
                fds.append(device.clone(self.fd))
            except OSError:
                fds.append(self.fd)  # no clone (unprivileged): share the one fd
        workers = [
            threading.Thread(target=self._worker, args=(fd,), daemon=True, name=f"fuse-{i}")
            for i, fd in enumerate(fds[1:], 1)
        ]
        for w in workers:
            w.start()
        try:
            self._worker(self.fd)
        finally:
            self._stop.set()
            for w in workers:
                w.join(timeout=5)
            for fd in set(fds):
                os.close(fd)
            self.fs.handles.close_all()
            self.fs.whiteouts.close()

    def _worker(self, fd: int) -> None:
        buf = bytearray(BUFSIZE)
        mv = memoryview(buf)
        while not self._stop.is_set():
            n = self._read(fd, buf)
            if n is None:
                self._stop.set()
                return
            self._dispatch(fd, mv[:n])

    def _read(self, fd: int, buf: bytearray) -> int | None:
        while True:
            try:
                return os.readv(fd, [buf])
            except InterruptedError:
                continue
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.EAGAIN):
                    continue  # the request was interrupted before we read it
                if e.errno in (errno.ENODEV, errno.ECONNABORTED, errno.EBADF):
                    return None
                raise

    def _dispatch(self, fd: int, mv: memoryview) -> None:
        _len, opcode, unique, nodeid, uid, gid, pid, _ = p.IN_HEADER.unpack_from(mv)
        if opcode == p.Op.INTERRUPT:
            return  # handlers are short and not interruptible: the reply follows anyway
        if opcode == p.Op.DESTROY:
            self._reply(fd, unique, b"")
            self._stop.set()
            return
        handler = HANDLERS.get(opcode)
        if handler is None:
            self._reply_error(fd, unique, errno.ENOSYS)
            return
        req = Request(opcode, unique, nodeid, uid, gid, pid)
        try:
            out = handler(self.fs, req, mv[p.IN_HEADER.size :])
        except OSError as e:
            self._reply_error(fd, unique, e.errno or errno.EIO)
            return
        except Exception:
            print(f"layerfs: {p.Op(opcode).name} failed:", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            self._reply_error(fd, unique, errno.EIO)
            return
        if out is not None:
            self._reply(fd, unique, out)

    def _reply(self, fd: int, unique: int, payload: bytes) -> None:
        header = p.OUT_HEADER.pack(p.OUT_HEADER.size + len(payload), 0, unique)
        self._write(fd, [header, payload] if payload else [header])

    def _reply_error(self, fd: int, unique: int, code: int) -> None:
        self._write(fd, [p.OUT_HEADER.pack(p.OUT_HEADER.size, -code, unique)])

    @staticmethod
    def _write(fd: int, parts: list[bytes]) -> None:
        try:
            os.writev(fd, parts)
        except OSError as e:
            # ENOENT: the request was interrupted/aborted meanwhile; ENODEV: unmounted.
            if e.errno not in (errno.ENOENT, errno.ENODEV, errno.EBADF):
                raise
