"""Three changes to how httpcore reads sockets, for downloads: larger reads, fewer copies of each
body byte, and a deadline for headers.

They patch httpcore's and h11's classes once per process, reached through `modellock.compat`: an
httpcore2 or h11 outside the tested range is refused there (the deadline is a defence, not a speed-up).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from modellock.compat import h11_receive_buffer, httpcore_reading

_MIB = 1024 * 1024
_local = threading.local()
_installed = False
_mutex = threading.Lock()


@contextmanager
def headers_within(seconds: float) -> Iterator[None]:
    """Reads on this thread fail once `seconds` have passed: a server that trickles its headers a
    byte at a time never trips a per-read timeout, and h11 accepts 16 KiB of them."""
    install()
    _local.deadline = time.monotonic() + seconds
    try:
        yield
    finally:
        _local.deadline = None


def install() -> None:
    global _installed
    with _mutex:
        if _installed:
            return
        HTTP11Connection, SyncStream, ReadTimeout = httpcore_reading()
        _installed = True
        # A 64 KiB read costs as much interpreter time in h11 as a 1 MiB one: one stream used 0.49 s
        # of CPU per 256 MiB with httpcore's default and 0.19 s with 1 MiB, at 1.8x the rate (loopback,
        # benchmarks/download.py); chunks are then large enough for the digests to run in parallel.
        if getattr(HTTP11Connection, "READ_NUM_BYTES", 0) < _MIB:
            HTTP11Connection.READ_NUM_BYTES = _MIB
        _extract_without_copies()
        original = SyncStream.read

        def read(self: Any, max_bytes: int, timeout: float | None = None) -> bytes:
            deadline = getattr(_local, "deadline", None)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ReadTimeout("the server did not send its response headers in time")
                timeout = left if timeout is None else min(timeout, left)
            data: bytes = original(self, max_bytes, timeout)
            return data

        SyncStream.read = read  # type: ignore[method-assign]


# ReceiveBuffer methods that read its bytes: each first folds a held chunk into the buffer.
_READERS = (
    "__bool__",
    "__len__",
    "__bytes__",
    "_extract",
    "maybe_extract_next_line",
    "maybe_extract_lines",
    "is_next_line_obviously_invalid_request_line",
)
_HELD = "_modellock_held"


def _extract_without_copies() -> None:
    """Body bytes pass through h11 without being copied.

    h11 appends every read to a bytearray and hands body bytes out by slicing it twice, and
    httpcore copies them once more into `bytes`: three copies of every byte into freshly allocated
    memory (about 0.4 s of CPU per GiB each, most of it page faults). Here a read that arrives
    while the buffer is empty is held as the `bytes` it is and handed out whole to a body read that
    wants all of it (httpcore's `bytes()` of it is then the same object); a buffer with anything
    else in it works as before, with the held bytes folded in first.
    """
    ReceiveBuffer = h11_receive_buffer()
    names = (*_READERS, "__iadd__", "maybe_extract_at_most")
    if hasattr(ReceiveBuffer, "__slots__") or not all(hasattr(ReceiveBuffer, name) for name in names):
        return  # another h11 than the one this was written against: keep its copies
    plain_add = ReceiveBuffer.__iadd__
    plain_at_most = ReceiveBuffer.maybe_extract_at_most

    def settle(self: Any) -> None:
        held = self.__dict__.pop(_HELD, None)
        if held is not None:
            plain_add(self, held)

    def add(self: Any, data: bytes | bytearray) -> Any:
        if type(data) is bytes and data and not self._data and _HELD not in self.__dict__:
            setattr(self, _HELD, data)
            return self
        settle(self)
        return plain_add(self, data)

    def at_most(self: Any, count: int) -> bytes | bytearray | None:
        held = self.__dict__.get(_HELD)
        if held is not None and len(held) <= count:
            delattr(self, _HELD)
            self._next_line_search = self._multiple_lines_search = 0
            return held  # type: ignore[no-any-return]
        settle(self)
        data = self._data
        if type(data) is bytearray and 0 < len(data) <= count:
            self._data = bytearray()
            self._next_line_search = self._multiple_lines_search = 0
            return data
        return plain_at_most(self, count)  # type: ignore[no-any-return]

    def folding(method: Any) -> Any:
        def read(self: Any, *args: Any) -> Any:
            settle(self)
            return method(self, *args)

        return read

    for name in _READERS:
        setattr(ReceiveBuffer, name, folding(getattr(ReceiveBuffer, name)))
    ReceiveBuffer.__iadd__ = add  # type: ignore[method-assign,assignment]
    ReceiveBuffer.maybe_extract_at_most = at_most  # type: ignore[method-assign,assignment]
