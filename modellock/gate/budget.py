"""Caps on what one file's scan may cost, shared by every nested archive and stream inside it.

A nested archive is charged once: the bytes a decompressor produces are counted against the
file's single budget, however deep the nesting, and stored members are read in place at no charge.
"""

from __future__ import annotations

import bz2
import lzma
import mmap
import tempfile
import zlib
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from modellock.gate.buffer import Window

MAX_EXPANDED = 256 * 1024 * 1024
"""Bytes all decompression in one file may produce, in total."""
MAX_RATIO = 1100
"""Output/input ratio above which a stream is a bomb (deflate cannot exceed ~1032:1)."""
RATIO_FLOOR = 16 * 1024 * 1024
"""Streams may expand freely up to this size before the ratio applies."""
MAX_DEPTH = 3
"""Archives or compressed streams nested inside one another."""
CHUNK = 1024 * 1024
IN_MEMORY = 4 * 1024 * 1024
"""Decompressed output kept in memory up to this size; larger output is spilled to a temporary file."""


class CapExceeded(Exception):
    """A scanning cap refused the file; the message names the cap."""


MAX_FILE_OPCODES = 3_000_000
"""Opcodes all the pickles of one file may have together (legacy and tar files hold many)."""
MAX_PICKLES = 100_000
"""Pickles one file may hold (a tar checkpoint has one per storage and tensor)."""


@dataclass
class Budget:
    """What one file's scan has spent so far, across every archive, stream and pickle in it."""

    expanded: int = 0
    opcodes: int = 0
    pickles: int = 0

    def charge(self, added: int, produced: int, consumed: int, what: str) -> None:
        """Count `added` new bytes of a stream that has produced `produced` from `consumed` so far."""
        self.expanded += added
        if self.expanded > MAX_EXPANDED:
            raise CapExceeded(f"{what} expands past {MAX_EXPANDED >> 20} MiB in total (cap MAX_EXPANDED)")
        if produced > RATIO_FLOOR and produced > MAX_RATIO * max(consumed, 1):
            raise CapExceeded(f"{what} expands more than {MAX_RATIO}:1 (cap MAX_RATIO)")


ACTIVE: ContextVar[Budget | None] = ContextVar("modellock_scan_budget", default=None)
"""The budget of the scan in progress: every pickle walk inside it charges this one."""


def _decompressor(method: str) -> Any:
    return {
        "deflate": lambda: zlib.decompressobj(-15),
        "zlib": lambda: zlib.decompressobj(zlib.MAX_WBITS),
        "gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
        "bzip2": bz2.BZ2Decompressor,
        "xz": lzma.LZMADecompressor,
    }[method]()


class StreamError(Exception):
    """A compressed stream that does not decompress, or has data after its end."""


def expand(source: Window, method: str, budget: Budget, what: str, *, keep: bool) -> tuple[int, Window | None]:
    """Decompress `source` in chunks, charging the budget; returns the size and, if `keep`, the bytes.

    Kept output stays in memory up to IN_MEMORY bytes, then goes to an anonymous temporary file
    mapped read-only, so memory stays bounded and small members cost no file.
    """
    stream = _decompressor(method)
    zlib_like = method in ("deflate", "zlib", "gzip")
    small = bytearray() if keep else None
    sink = None
    pending = source.read(0, CHUNK)
    produced, consumed = 0, len(pending)
    try:
        while True:
            try:
                out = stream.decompress(pending, CHUNK)
            except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as exc:
                raise StreamError(f"{method} stream: {exc}") from None
            pending = stream.unconsumed_tail if zlib_like else b""
            if out:
                produced += len(out)
                budget.charge(len(out), produced, consumed, what)
                if sink is not None:
                    sink.write(out)
                elif small is not None:
                    small += out
                    if len(small) > IN_MEMORY:
                        sink = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
                        sink.write(small)
                        small = None
            if stream.eof:
                if stream.unused_data or consumed < len(source):
                    raise StreamError(f"data after the end of the {method} stream")
                break
            if (not pending) if zlib_like else stream.needs_input:
                if consumed >= len(source):
                    if out:
                        continue  # output was cut at CHUNK: the decompressor may hold more
                    raise StreamError(f"{method} stream is truncated")
                pending = source.read(consumed, CHUNK)
                consumed += len(pending)
        if not keep:
            return produced, None
        if sink is None:
            return produced, Window(bytes(small or b""))
        sink.flush()
        return produced, Window(mmap.mmap(sink.fileno(), 0, access=mmap.ACCESS_READ))
    finally:
        if sink is not None:
            sink.close()
