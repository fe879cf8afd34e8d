"""The one rule for a slow download: a file must gain at least a floor rate over every window, across attempts.

curl's --speed-limit/--speed-time, but for the file rather than one request: a server that trickles
a byte every few seconds never trips a read timeout, and one that cuts every answer short would
otherwise get a fresh window (and a fresh count of attempts) each time.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from modellock.errors import NetworkError


def speed_rule() -> tuple[float, float]:
    """(bytes per second, seconds): MODELLOCK_SPEED_LIMIT (default 1024) and MODELLOCK_SPEED_TIME (default 30)."""
    limit = float(os.environ.get("MODELLOCK_SPEED_LIMIT", "1024"))
    window = float(os.environ.get("MODELLOCK_SPEED_TIME", "30"))
    return limit, window


def too_slow(gained: int, elapsed: float, limit: float, window: float) -> bool:
    """Whether `gained` bytes in `elapsed` seconds break the rule; judged only once a whole window has passed."""
    return elapsed >= window and gained < limit * elapsed


class Floor:
    """One file's progress, counted by every connection and every attempt; `check` raises once it is too slow."""

    def __init__(self, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.limit, self.window = speed_rule()
        self._clock = clock
        self._mutex = threading.Lock()
        self._since: float | None = None
        self._gained = 0

    def gained(self, count: int) -> None:
        """Bytes the server sent for this file (the clock starts with the first request, see `begin`)."""
        with self._mutex:
            self._gained += count

    def begin(self) -> None:
        """Start the clock if it has not started (waiting for a connection permit is not the server's fault)."""
        with self._mutex:
            if self._since is None:
                self._since = self._clock()

    def check(self) -> None:
        """Raise if the file gained too little over the window that just ended; else start the next window."""
        with self._mutex:
            if self._since is None:
                return
            now = self._clock()
            elapsed, gained = now - self._since, self._gained
            if elapsed < self.window:
                return
            if too_slow(gained, elapsed, self.limit, self.window):
                raise NetworkError(
                    f"could not download {self.what}: it received {gained} bytes in {elapsed:.1f} s, "
                    f"less than {self.limit:.0f} bytes/s",
                    hint="the server or the network is too slow, or stalled; run the command again to resume "
                    "(MODELLOCK_SPEED_LIMIT and MODELLOCK_SPEED_TIME set this floor)",
                )
            self._since, self._gained = now, 0
