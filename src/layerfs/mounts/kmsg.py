"""Reading the kernel log (/dev/kmsg) from a point on: the text of a mount refusal.

Not a mount syscall; `kernel.py` uses it to put the kernel's own words into `MountError`
(overlayfs reports most refusals only with pr_err, not through the fs-context log).
"""

from __future__ import annotations

import os
from types import TracebackType


class KernelLog:
    """The kernel log records that start with `prefix`, from construction on.

    Needs read access to /dev/kmsg (root); otherwise it silently yields nothing. A
    matching record another process causes at the same moment is picked up too: the
    text is a hint for people, the errno is the fact. Use as a context manager (closes).
    """

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._fd: int | None = None
        try:
            self._fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            os.lseek(self._fd, 0, os.SEEK_END)
        except OSError:
            self.close()

    def lines(self) -> list[str]:
        """The new matching records, prefix dropped (each record is read once)."""
        out: list[str] = []
        while self._fd is not None:
            try:
                record = os.read(self._fd, 8192).decode(errors="replace")
            except OSError:  # EAGAIN: nothing more (EPIPE: records lost to wrap-around)
                break
            # "<prio>,<seq>,<usec>,<flags>;<text>\n< continuation lines>"
            text = record.partition(";")[2].partition("\n")[0]
            if text.startswith(self._prefix):
                out.append(text.removeprefix(self._prefix))
        return out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> KernelLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
