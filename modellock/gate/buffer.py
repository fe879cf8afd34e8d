"""A read-only window onto file bytes: the scanner never copies a whole file or member into memory.

A window is a (buffer, start, end) triple over `bytes`, an `mmap` or a decompressing
`StreamBuffer`; all slice to `bytes` and have a bounded `find`, which is all the parsers need.
"""

from __future__ import annotations

import io
import mmap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from modellock.gate.streambuf import StreamBuffer

Raw = Union[bytes, mmap.mmap, "StreamBuffer"]


@dataclass(frozen=True)
class Window:
    """Bytes `start`..`end` of `buf`; offsets given to methods are relative to `start`."""

    buf: Raw
    start: int = 0
    end: int = -1

    def __post_init__(self) -> None:
        if self.end < 0:
            object.__setattr__(self, "end", len(self.buf))

    def __len__(self) -> int:
        return self.end - self.start

    def read(self, at: int, n: int) -> bytes:
        """Up to `n` bytes at relative offset `at` (fewer at the end)."""
        lo = self.start + max(0, at)
        return self.buf[lo : min(self.end, lo + max(0, n))]

    def head(self, n: int = 512) -> bytes:
        return self.read(0, n)

    def tail(self, n: int) -> bytes:
        return self.buf[max(self.start, self.end - n) : self.end]

    def sub(self, at: int, n: int) -> Window:
        lo = self.start + at
        return Window(self.buf, lo, min(self.end, lo + n))

    def reader(self) -> io.RawIOBase:
        return _WindowReader(self)


class _WindowReader(io.RawIOBase):
    """A seekable file object over a window (for tarfile), reading slices on demand."""

    def __init__(self, window: Window) -> None:
        self._w = window
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: len(self._w)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self._w.read(self._pos, len(b))
        b[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)
