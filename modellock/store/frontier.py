"""Hash a file in order while its bytes land at any offset: the hashed prefix follows the contiguous one."""

from __future__ import annotations

import os
import threading

from modellock.errors import IntegrityError
from modellock.store.hashing import StreamHasher
from modellock.store.libc import start_writeback

_BLOCK = 8 * 1024 * 1024
_WRITEBACK_STEP = 64 * 1024 * 1024


class Frontier:
    """Tracks which byte ranges of a file have landed, and hashes the landed prefix as it grows.

    A write at the hashed end is hashed from memory at once (one sequential stream costs no
    read-back and no thread). Once bytes land elsewhere, a thread of its own reads them back from
    the page cache as the prefix reaches them, so downloading and hashing overlap. Bytes written
    twice, or ranges that overlap, are refused by `finish`.
    """

    def __init__(self, fd: int, hasher: StreamHasher) -> None:
        self._fd, self._hasher = fd, hasher
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._clear()

    def _clear(self) -> None:
        self._starts: dict[int, int] = {}
        self._ends: dict[int, int] = {}
        self._hashed = self._flushed = self.landed_bytes = 0
        self._hashing = self._stopping = False

    @property
    def ranges(self) -> list[tuple[int, int]]:
        """The landed ranges `[start, end)`, merged and in order."""
        with self._cond:
            return sorted(self._starts.items())

    def landed(self, offset: int, chunk: bytes | memoryview) -> None:
        end = offset + len(chunk)
        with self._cond:
            self._raise_failure()
            before = self._prefix_end()
            inline = offset == self._hashed and not self._hashing and before == offset
            self._add(offset, end)
            if inline:
                self._hashing = True
            elif self._prefix_end() > before:
                # Only bytes that extend the prefix give the thread work: waking it for every chunk
                # that lands beyond a gap cost a GIL hand-off each, thousands per GiB.
                self._wake()
        if inline:
            try:
                self._hasher.update(chunk)
            except BaseException:
                self._hashed_to(offset)
                raise
            self._hashed_to(end)

    def adopt(self, start: int, end: int) -> None:
        """Count bytes already in the file (kept by an earlier run) as landed: they are read back and hashed."""
        with self._cond:
            self._add(start, end)
            self._wake()

    def is_prefix(self) -> bool:
        """Whether everything landed is one range from byte 0."""
        with self._cond:
            return len(self._starts) <= 1 and self._prefix_end() == self.landed_bytes

    def extends_prefix(self, offset: int) -> bool:
        """Whether bytes at `offset` keep everything landed one range from byte 0."""
        with self._cond:
            return offset == self._prefix_end() == self.landed_bytes

    def finish(self) -> None:
        """Hash every landed byte of the prefix, then stop the thread; raises what it failed with.

        Every landed byte must be in the hashed prefix exactly once: a byte written twice (the
        second time perhaps different from what was hashed) or beyond a gap is refused here.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._join()
        self._drain()
        with self._cond:
            self._stopping = False
            self._raise_failure()
            if self.landed_bytes != self._hashed:
                raise IntegrityError(
                    f"{self.landed_bytes} bytes were written but only {self._hashed} form the file from its "
                    "first byte (written twice, or beyond a gap)",
                    hint="nothing was stored; run the command again",
                )

    def reset(self) -> None:
        """Forget everything landed and hashed (the caller resets the hasher and the file)."""
        self.stop()
        with self._cond:
            self._clear()

    def stop(self) -> None:
        """Stop hashing without finishing (the bytes are being kept or thrown away)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._join()
        with self._cond:
            self._stopping = False

    def _add(self, start: int, end: int) -> None:
        self.landed_bytes += end - start
        if start in self._ends:
            previous = self._ends.pop(start)
            del self._starts[previous]
            start = previous
        if end in self._starts:
            following = self._starts.pop(end)
            del self._ends[following]
            end = following
        self._starts[start] = end
        self._ends[end] = start

    def _prefix_end(self) -> int:
        return self._starts.get(0, 0)

    def _wake(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True, name="modellock-hash-frontier")
            self._thread.start()
        self._cond.notify_all()

    def _join(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._stopping and (self._hashing or self._prefix_end() <= self._hashed):
                        self._cond.wait()
                    if self._stopping:
                        return
                self._drain()
        except BaseException as exc:
            with self._cond:
                self._failure = exc

    def _drain(self) -> None:
        """Read back and hash the landed prefix beyond what is hashed, a block at a time."""
        while True:
            with self._cond:
                start, end = self._hashed, self._prefix_end()
                if end <= start or self._hashing:
                    return
                self._hashing = True
            try:
                block = os.pread(self._fd, min(_BLOCK, end - start), start)
                if not block:
                    raise OSError(f"the partial file ends at byte {start}, before {end}")
                self._hasher.update(block)
            except BaseException:
                self._hashed_to(start)
                raise
            self._hashed_to(start + len(block))

    def _hashed_to(self, end: int) -> None:
        with self._cond:
            self._hashing = False
            self._hashed = end
            if self._prefix_end() > end:
                self._cond.notify_all()
            if self._hashed - self._flushed < _WRITEBACK_STEP:
                return
            start, self._flushed = self._flushed, self._hashed
        # Queue what is hashed for disk as it grows, so the fsync at the end waits for little.
        start_writeback(self._fd, start, end - start)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
