"""Fetch one file: large ones as ranges over several connections, each range retried and resumed on its own.

A file of at least two pieces is split into pieces fetched by up to `per_file()` connections that
take the next piece when they finish one (a fast connection does more of the work). The first
request resolves the redirect; the others reuse its target. A server that answers a range with the
whole file gets one stream instead, which fills what is missing and skips what is there. What a
piece received before a failure is kept, and its next attempt asks only for the rest; attempts are
counted only while a piece gains nothing, and the file's progress across all of them is held to
one floor rate (`floor.Floor`).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modellock.download import reads
from modellock.download.budget import Budget, shared_budget
from modellock.download.floor import Floor, speed_rule, too_slow
from modellock.download.location import Location, Target
from modellock.download.origin import Origin, Retryable
from modellock.errors import IntegrityError, NetworkError

if TYPE_CHECKING:
    import httpx2

_MIB = 1024 * 1024
ATTEMPTS = int(os.environ.get("MODELLOCK_HTTP_ATTEMPTS", "5"))
"""Attempts in a row that gain a piece nothing; the first backoff is BACKOFF_S and each later one doubles."""
BACKOFF_S = float(os.environ.get("MODELLOCK_HTTP_BACKOFF", "1.0"))


def piece_size(size: int, connections: int) -> int:
    """Bytes per range request (MODELLOCK_PIECE_SIZE, or chosen for the file).

    Hashing follows the contiguous prefix, which trails the last byte by what is in flight:
    connections x piece. About eight pieces per connection keeps that tail short (the hashes are
    done moments after the download), 4 MiB keeps a request's round trip small against its
    transfer, 32 MiB keeps the number of requests for a 20 GiB file near 640.
    """
    fixed = os.environ.get("MODELLOCK_PIECE_SIZE")
    if fixed:
        return max(64 * 1024, int(fixed))
    return min(32 * _MIB, max(4 * _MIB, size // (connections * 8)))


def per_file() -> int:
    """Connections one file may use at once (aria2c's -x)."""
    return max(1, int(os.environ.get("MODELLOCK_CONNECTIONS_PER_FILE", "8")))


@dataclass
class _Piece:
    start: int
    end: int
    done: int = 0
    """Bytes of it already written (or already there): the next attempt starts after them."""
    have: list[tuple[int, int]] = field(default_factory=list)
    """Ranges inside it that are already written: skipped, never written twice (the one-stream fallback)."""

    @property
    def next(self) -> int:
        return self.start + self.done

    def land(self, target: Target, at: int, chunk: bytes | memoryview) -> None:
        """Write what of `chunk` (the answer's bytes from offset `at`) this piece still needs."""
        low, high = max(at, self.next), min(at + len(chunk), self.end)
        if high <= low:
            return
        view = memoryview(chunk)
        for start, end in _gaps(low, high, self.have):
            target.write_at(start, view[start - at : end - at])
        self.done = _past(high, self.have) - self.start


def _gaps(low: int, high: int, have: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of [low, high) outside every range of `have` (sorted, disjoint)."""
    found, at = [], low
    for start, end in have:
        if end <= at or start >= high:
            continue
        if start > at:
            found.append((at, start))
        at = max(at, end)
    if at < high:
        found.append((at, high))
    return found


def _past(offset: int, have: list[tuple[int, int]]) -> int:
    """`offset`, moved past a range of `have` that starts at or covers it."""
    for start, end in have:
        if start <= offset < end:
            offset = end
    return offset


class _NoRanges(Exception):
    """The server answered a range request with the whole file."""


class _Download:
    def __init__(self, origin: Origin, size: int, target: Target, what: str) -> None:
        self.origin, self.size, self.target, self.what = origin, size, target, what
        self.floor = Floor(what)
        self.single = False
        """One connection streams the file: an answer with the whole file is read, skipping what is there."""
        self.stop = threading.Event()
        self.on_answer: Callable[[], None] | None = None
        """Called once, when the first good answer has arrived."""

    def piece(self, piece: _Piece) -> None:
        """Fetch one piece to its end, retrying on its own; raises the reason after the last attempt.

        An attempt that gained bytes is no failure (a server may answer every range short, or cut
        every answer): the next one asks for the rest at once. `Floor` bounds how slow that may be.
        """
        failure: Exception | None = None
        failures = 0
        while True:
            if failures:
                self.target.pause(BACKOFF_S * 2 ** (failures - 1))
            if self.stop.is_set():
                return
            before = piece.next
            try:
                self._request(piece)
            except (Retryable, _transport_errors()) as exc:
                failure = exc
            if piece.next >= piece.end or self.stop.is_set():
                return
            self.floor.check()
            failures = 0 if piece.next > before else failures + 1
            if failures >= ATTEMPTS:
                break
        raise NetworkError(
            f"could not download {self.what} after {ATTEMPTS} attempts: {_describe(failure)}",
            hint="check the network and run the command again; finished files are kept in the store",
        )

    def _request(self, piece: _Piece) -> None:
        import httpx2

        headers = {"Accept-Encoding": "identity"}
        ranged = not (piece.next == 0 and piece.end == self.size)
        if ranged:
            # The last piece open-ended, as curl resumes: servers that serve only `N-` ranges still resume.
            last = "" if piece.end == self.size else str(piece.end - 1)
            headers["Range"] = f"bytes={piece.next}-{last}"
        limit, window = speed_rule()
        # A read that waits a whole window for its first byte is slower than any limit.
        timeout = httpx2.Timeout(connect=10.0, read=min(60.0, window), write=60.0, pool=60.0)
        self.floor.begin()
        with self.origin.get(headers, timeout, headers_within=window) as response:
            at = self._check_range(response, piece) if ranged else 0
            if self.on_answer is not None:
                announce, self.on_answer = self.on_answer, None
                announce()
            started, counted = time.monotonic(), 0
            for chunk in response.iter_raw():
                if self.stop.is_set():
                    return
                if at + len(chunk) > self.size:
                    raise IntegrityError(f"{self.what} is larger than the expected {self.size} bytes")
                if at >= piece.end:
                    return  # more than asked for: the rest is another piece's
                piece.land(self.target, at, chunk)
                at += len(chunk)
                counted += len(chunk)
                self.floor.gained(len(chunk))
                self.floor.check()
                now = time.monotonic()
                if now - started >= window:
                    if too_slow(counted, now - started, limit, window):
                        raise Retryable(f"slower than {limit:.0f} bytes/s for {window:g} s")
                    started, counted = now, 0

    def _check_range(self, response: httpx2.Response, piece: _Piece) -> int:
        """The offset the answer's body starts at: the range asked for, or 0 for the whole file."""
        if response.status_code == 200:
            if self.single:
                return 0  # the whole file after all: what this piece has is skipped
            raise _NoRanges()
        found = re.fullmatch(
            r"bytes (\d{1,20})-(\d{1,20})/(\d{1,20}|\*)", response.headers.get("Content-Range", "").strip()
        )
        if response.status_code != 206 or found is None or int(found.group(1)) != piece.next:
            raise Retryable(f"asked for bytes {piece.next}-{piece.end - 1}, the server answered something else")
        total = found.group(3)
        if total != "*" and int(total) != self.size:
            raise IntegrityError(
                f"{self.what}: size mismatch: expected {self.size} bytes, the server has {total}",
                hint="the server or a proxy has a different file than the listing; nothing was stored",
            )
        return piece.next


def fetch(
    locate: Callable[[], Location],
    size: int,
    target: Target,
    what: str,
    *,
    connections: int | None = None,
    budget: Budget | None = None,
) -> None:
    """Write the file's bytes [0, size) into `target`; `what` names it in errors ("org/name@abc1234: path").

    `connections` caps this file's connections (default `per_file()`); each holds a permit of
    `budget` (default: the process's) while it is open, so many files share one limit.
    """
    reads.install()
    budget = budget or shared_budget()
    download = _Download(Origin(locate, what), size, target, what)
    connections = connections or per_file()
    pieces = _plan(size, target.present(), piece_size(size, connections))
    if not pieces:
        return
    download.single = len(pieces) == 1
    try:
        _run(download, pieces, min(connections, len(pieces)), budget)
    except _NoRanges:
        # One stream from the first missing byte; whatever landed meanwhile is skipped, not fetched again.
        download.stop.clear()
        download.on_answer = None
        download.single = True
        present = target.present()
        missing = _plan(size, present, size)
        if not missing:
            return
        stream = _Piece(missing[0].start, size, have=[r for r in present if r[1] > missing[0].start])
        with _permit(budget, target):
            download.piece(stream)


@contextmanager
def _permit(budget: Budget, target: Target) -> Iterator[None]:
    """One connection's permit, waited for in steps that a stopped run interrupts (`pause` raises)."""
    while not budget.acquire():
        target.pause(0.05)
    try:
        yield
    finally:
        budget.release()


def _plan(size: int, present: list[tuple[int, int]], step: int) -> list[_Piece]:
    """The pieces that are not there yet, none larger than `step`."""
    pieces, at = [], 0
    for start, end in [*present, (size, size)]:
        while at < min(start, size):
            stop = min(at + step, start, size)
            pieces.append(_Piece(at, stop))
            at = stop
        at = max(at, end)
    return pieces


class _Pool:
    """The connections of one download: each takes the next piece until none is left or one fails."""

    def __init__(self, download: _Download, pieces: list[_Piece], budget: Budget, connections: int) -> None:
        self.download, self.budget, self.connections = download, budget, connections
        self.queue = list(reversed(pieces))
        self.mutex = threading.Lock()
        self.errors: list[BaseException] = []
        """Every connection's failure, in the order they happened; `_run` raises the first."""
        self.threads: list[threading.Thread] = []

    def take(self) -> _Piece | None:
        with self.mutex:
            return self.queue.pop() if self.queue and not self.download.stop.is_set() else None

    def work(self, *, grows: bool = False) -> None:
        """Take pieces until none is left; with `grows`, open more connections as permits free up."""
        try:
            while (piece := self.take()) is not None:
                self.download.piece(piece)
                if grows:
                    self.grow()
        except BaseException as exc:  # not swallowed: `_run` raises it once every connection has stopped
            with self.mutex:
                self.errors.append(exc)
            self.download.stop.set()

    def grow(self) -> None:
        """Open more connections while permits are free and pieces are waiting for one."""
        while len(self.threads) + 1 < self.connections and self.queue and self.budget.acquire():
            thread = threading.Thread(target=self._helper, daemon=True, name="modellock-range")
            thread.start()
            self.threads.append(thread)

    def _helper(self) -> None:
        try:
            self.work()
        finally:
            self.budget.release()


def _run(download: _Download, pieces: list[_Piece], connections: int, budget: Budget) -> None:
    """The first piece on this thread (it resolves the redirect), then every connection takes pieces in turn."""
    pool = _Pool(download, pieces, budget, connections)
    # The first answer shows whether the server serves ranges, and resolves the redirect the other
    # connections reuse: they open once it has arrived.
    download.on_answer = pool.grow
    with _permit(budget, download.target):
        pool.work(grows=True)
    for thread in pool.threads:
        # Daemon threads, joined in short waits so that a Ctrl-C on the main thread is seen at once.
        while thread.is_alive():
            thread.join(0.1)
    if pool.errors:
        # The first failure stopped the others; later ones are its consequences or the same cause.
        raise pool.errors[0]


def _transport_errors() -> type[Exception]:
    import httpx2

    return httpx2.TransportError


def _describe(exc: Exception | None) -> str:
    if exc is None:
        return "the server closed the connection before the file was complete"
    return str(exc) or type(exc).__name__
