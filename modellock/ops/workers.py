"""Run jobs in parallel on threads that a Ctrl-C can stop within a second.

`concurrent.futures` joins its workers before the interpreter exits, so one download blocked in a
read keeps a Ctrl-C'd process alive until the read times out. These workers are daemon threads
that check a shared flag between chunks; the main thread waits for them only briefly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# How long a stopping run waits for workers to notice the flag and keep what they have.
STOP_GRACE_S = 0.3


class Cancelled(Exception):
    """Raised inside a worker when the run it belongs to has been stopped."""


class CancelFlag:
    """Set once, when the run should stop (Ctrl-C, SIGTERM, or another job failed)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake and raise Cancelled as soon as the run stops."""
        if self._event.wait(seconds):
            raise Cancelled()


class _Run(Generic[T, R]):
    def __init__(self, fn: Callable[[T], R], items: Sequence[T]) -> None:
        self.fn = fn
        self.items = items
        self.results: list[R | None] = [None] * len(items)
        self.error: BaseException | None = None
        self.next = 0
        self.finished = 0
        self.lock = threading.Lock()
        self.done = threading.Event()


def run_parallel(fn: Callable[[T], R], items: Sequence[T], workers: int, cancel: CancelFlag) -> list[R]:
    """`[fn(item) for item in items]` on up to `workers` threads, results in order.

    The first failure stops the others (they see `cancel`) and is raised. A KeyboardInterrupt in
    the waiting main thread sets `cancel`, gives the workers a moment to stop, and propagates.
    """
    if not items:
        return []
    run: _Run[T, R] = _Run(fn, items)

    def work() -> None:
        while True:
            with run.lock:
                if run.next >= len(items) or cancel.is_set:
                    return
                index = run.next
                run.next += 1
            try:
                run.results[index] = fn(items[index])
            except BaseException as exc:
                with run.lock:
                    if run.error is None and not isinstance(exc, Cancelled):
                        run.error = exc
                cancel.set()
                run.done.set()
                return
            with run.lock:
                run.finished += 1
                if run.finished == len(items):
                    run.done.set()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(max(1, min(workers, len(items))))]
    for thread in threads:
        thread.start()
    try:
        run.done.wait()  # interruptible: a Ctrl-C lands here
    except BaseException:
        cancel.set()
        _join(threads)
        raise
    _join(threads)
    if run.error is not None:
        raise run.error
    if cancel.is_set and run.finished < len(items):
        raise Cancelled()
    return [r for r in run.results]  # type: ignore[misc]


def _join(threads: list[threading.Thread]) -> None:
    """Wait a little for every thread; one stuck in a read is abandoned (it is a daemon)."""
    import time

    deadline = time.monotonic() + STOP_GRACE_S
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
