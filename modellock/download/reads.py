"""Two changes to how httpcore reads sockets, for downloads: larger reads, and a deadline for headers.

Both patch httpcore's sync stream class once per process, reached through `modellock.compat`: an
httpcore2 outside the tested range is refused there (the deadline is a defence, not a speed-up).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from modellock.compat import httpcore_reading

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
