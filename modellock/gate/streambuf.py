"""Decompressed bytes seen through a bounded, forward-moving window, so a pickle walk can read a
stream of any size as it decompresses.

The walker reads forward only (opcodes, their arguments, a joblib array skipped by its size), so
bytes behind the lowest position still asked for are dropped, and bytes skipped over are decoded and
discarded without being kept. Indexing past the end of the stream fails like a truncated pickle;
slices are cut at the end, as `bytes` cuts them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import overload

from modellock.gate.decode import StreamError
from modellock.gate.pickle_walk import PickleInvalid

MAX_WINDOW = 64 * 1024 * 1024
"""Most bytes one read may need at once (a text argument, a long integer): real pickles' are tiny."""
_DROP = 8 * 1024 * 1024
END = 1 << 62
"""The window end a walk is given: the stream's real end is known only once it is reached."""


class StreamBuffer:
    """Absolute positions of a decompressed stream; memory bounded by MAX_WINDOW plus a chunk."""

    def __init__(self, chunks: Iterator[bytes], first: bytes = b"") -> None:
        self._chunks = chunks
        self._data = bytearray(first)
        self._lo = 0
        self.done = False
        self.error: StreamError | None = None
        """Where decoding failed: the stream ends there for the scanner, as it does for a loader."""

    @property
    def _hi(self) -> int:
        return self._lo + len(self._data)

    def _fill(self, start: int, stop: int) -> None:
        """Hold at least `start`..`stop` (or up to the end of the stream), dropping what is behind `start`."""
        if stop - start > MAX_WINDOW:
            raise PickleInvalid(
                f"a read of {stop - start} bytes from a compressed stream (cap MAX_WINDOW, 64 MiB)", start, "limit"
            )
        if start >= self._hi:
            self._lo, self._data = self._hi, bytearray()
        elif start - self._lo > _DROP:
            del self._data[: start - self._lo]
            self._lo = start
        while self._hi < stop and not self.done:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self.done = True
                break
            except StreamError as exc:
                self.error, self.done = exc, True
                break
            if not self._data and self._lo + len(chunk) <= start:
                self._lo += len(chunk)  # skipped bytes (array data): decoded, never kept
                continue
            if not self._data and self._lo < start:
                chunk, self._lo = chunk[start - self._lo :], start
            self._data += chunk

    @overload
    def __getitem__(self, key: int) -> int: ...

    @overload
    def __getitem__(self, key: slice) -> bytes: ...

    def __getitem__(self, key: int | slice) -> int | bytes:
        if isinstance(key, slice):
            start, stop = key.start or 0, key.stop if key.stop is not None else END
            if stop <= start:
                return b""
            self._fill(start, stop)
            return bytes(self._data[max(0, start - self._lo) : max(0, min(stop, self._hi) - self._lo)])
        self._fill(key, key + 1)
        if key >= self._hi:
            raise PickleInvalid("truncated stream (no STOP)", key, "parse")
        return self._data[key - self._lo]

    def find(self, sub: bytes, start: int = 0, end: int = END) -> int:
        """Forward search, decoding as far as needed (at most MAX_WINDOW past `start`)."""
        searched = start
        want = start + 4096
        while True:
            self._fill(start, min(want, end))
            at = self._data.find(sub, max(0, searched - self._lo), max(0, min(end, self._hi) - self._lo))
            if at >= 0:
                return at + self._lo
            if self.done or self._hi >= end:
                return -1
            searched = max(start, self._hi - len(sub) + 1)
            want = min(start + MAX_WINDOW, want * 2 - start)
            if self._hi >= start + MAX_WINDOW:
                raise PickleInvalid("a text argument longer than 64 MiB in a compressed stream (cap MAX_WINDOW)",
                                    start, "limit")  # fmt: skip

    def __len__(self) -> int:
        return END

    def at_end(self, pos: int) -> bool:
        """Whether the stream ends at `pos` (decoding one more chunk to know)."""
        self._fill(pos, pos + 1)
        return pos >= self._hi

    def length(self) -> int:
        """The stream's length, decoding (and discarding) the rest of it."""
        while not self.done:
            self._fill(self._hi, self._hi + 1)
        return self._hi
