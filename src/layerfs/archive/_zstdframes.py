"""A zstd frame scanner: tells a complete stream from a truncated one.

python-zstandard's streaming reader returns a clean end of stream when its input stops
in the middle of a frame. `FrameCheckReader` passes the compressed bytes through
unchanged while walking the frame structure (headers, block sizes, checksums — RFC 8878,
no decompression), and raises InvalidInput at the end of input unless the last frame
was complete.
"""

from __future__ import annotations

from typing import BinaryIO

from layerfs.archive._io import RawReader
from layerfs.errors import InvalidInput

_ZSTD = 0xFD2FB528
_SKIPPABLE_MASK = 0xFFFFFFF0
_SKIPPABLE = 0x184D2A50
_DID_SIZE = (0, 1, 2, 4)
_FCS_SIZE = (0, 2, 4, 8)


class _Scanner:
    """Consumes compressed bytes; `complete` is True exactly between frames."""

    def __init__(self) -> None:
        self.frames = 0
        self._skip = 0  # bytes of payload to pass over before the next field
        self._field = bytearray()
        self._need = 4
        self._state = "magic"
        self._checksum = False

    @property
    def complete(self) -> bool:
        return self._state == "magic" and not self._field and not self._skip and self.frames > 0

    def feed(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            if self._skip:
                n = min(self._skip, len(view))
                self._skip -= n
                view = view[n:]
                continue
            take = min(self._need - len(self._field), len(view))
            self._field += view[:take]
            view = view[take:]
            if len(self._field) == self._need:
                field = bytes(self._field)
                self._field.clear()
                self._on_field(field)

    def _on_field(self, field: bytes) -> None:
        state = self._state
        if state == "magic":
            magic = int.from_bytes(field, "little")
            if magic == _ZSTD:
                self._state, self._need = "fhd", 1
            elif magic & _SKIPPABLE_MASK == _SKIPPABLE:
                self._state, self._need = "skipsize", 4
            else:
                raise InvalidInput("corrupt zstd stream: bad frame magic")
        elif state == "skipsize":
            self._skip = int.from_bytes(field, "little")
            self._end_frame()
        elif state == "fhd":
            fhd = field[0]
            single = (fhd >> 5) & 1
            self._checksum = bool((fhd >> 2) & 1)
            fcs = _FCS_SIZE[fhd >> 6] or (1 if single else 0)
            self._skip = (0 if single else 1) + _DID_SIZE[fhd & 3] + fcs
            self._state, self._need = "block", 3
        elif state == "block":
            v = int.from_bytes(field, "little")
            last, btype, size = v & 1, (v >> 1) & 3, v >> 3
            if btype == 3:
                raise InvalidInput("corrupt zstd stream: reserved block type")
            self._skip = 1 if btype == 1 else size
            if last:
                if self._checksum:
                    self._skip += 4
                self._end_frame()

    def _end_frame(self) -> None:
        self.frames += 1
        self._state, self._need = "magic", 4


class FrameCheckReader(RawReader):
    """Passes `inner` through, raising InvalidInput at its end if a frame is incomplete.

    Closing it closes `inner`.
    """

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._scan = _Scanner()

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(b))
        n = len(data)
        if n:
            self._scan.feed(data)
            b[:n] = data
        elif len(b) and not self._scan.complete:
            raise InvalidInput("truncated zstd stream: the last frame is incomplete")
        return n

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()
