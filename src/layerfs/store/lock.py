"""Locks: the one writer lock of a store, and owner locks of ingest directories.

Both are `fcntl.flock` locks, so the kernel drops them when their process dies (kill -9
included): a lock that can be taken means its former holder is gone.
"""

from __future__ import annotations

import fcntl
import os


class FileLock:
    """An exclusive flock on `path` (created if missing). Re-entrant within one object.

    `acquire(blocking=False)` returns False instead of waiting. Use as a context manager
    for a blocking acquire.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._depth = 0

    @property
    def held(self) -> bool:
        return self._depth > 0

    def acquire(self, blocking: bool = True) -> bool:
        if self._depth:
            self._depth += 1
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._depth = 1
        return True

    def release(self) -> None:
        if not self._depth:
            raise RuntimeError(f"lock {self.path} is not held")
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.release()


def is_free(path: str) -> bool:
    """True if nobody holds a flock on `path` (a missing file counts as free)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True
