"""A limit on connections across every download of the process (aria2c's -j with -x per file)."""

from __future__ import annotations

import os
import threading


class Budget:
    """Permits for open connections: a file's first connection waits for one, more are taken only if free."""

    def __init__(self, permits: int) -> None:
        self.permits = permits
        self._semaphore = threading.BoundedSemaphore(permits)

    def acquire(self) -> bool:
        """A permit if one is free (never waits: the caller decides how to wait)."""
        return self._semaphore.acquire(blocking=False)

    def release(self) -> None:
        self._semaphore.release()


_SHARED: Budget | None = None
_MUTEX = threading.Lock()


def shared_budget() -> Budget:
    """The process's budget, `MODELLOCK_CONNECTIONS` permits (default 16)."""
    global _SHARED
    with _MUTEX:
        if _SHARED is None:
            _SHARED = Budget(max(1, int(os.environ.get("MODELLOCK_CONNECTIONS", "16"))))
        return _SHARED
