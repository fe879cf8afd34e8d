"""Caps on what one file's scan may cost, shared by every nested archive and stream inside it.

A nested archive is charged once: the bytes a decompressor produces are counted against the
file's single budget, however deep the nesting, and stored members are read in place at no charge.
Decompressed bytes are scanned as they stream past wherever the format allows it (pickles, numeric
arrays); only containers that need random access (a zip or tar inside a compressed stream) are kept,
and those are capped separately (MAX_KEPT).
"""

from __future__ import annotations

import mmap
import tempfile
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from modellock.gate.buffer import Window
from modellock.gate.decode import CHUNK, CapExceeded, Decoder, StreamError

MAX_EXPANDED = 16 * 1024 * 1024 * 1024
"""Bytes all decompression in one file may produce, in total (streamed or kept). Decoding is the
floor of any scan (deflate of zeros runs at about 0.5 GB/s per core here), so this bounds what a
small hostile file costs: 16 GiB, about 40 s of CPU. Compressed pickles and `.npz` files expand to
far less; large checkpoints are stored uncompressed (safetensors, torch zips)."""
MAX_KEPT = 1024 * 1024 * 1024
"""Decompressed bytes kept for containers that need random access (a zip or tar inside a stream);
spilled to a temporary file, never held in memory."""
MAX_RATIO = 1100
"""Output/input ratio above which a stream is a bomb (deflate cannot exceed ~1032:1)."""
RATIO_FLOOR = 256 * 1024 * 1024
"""Streams may expand freely up to this size before the ratio applies: joblib's bz2, xz and lz4
files of zero-filled arrays expand far past 1100:1, and scanning them stays cheap up to here."""
MAX_DEPTH = 3
"""Archives or compressed streams nested inside one another."""
IN_MEMORY = 4 * 1024 * 1024
"""Decompressed output kept in memory up to this size; larger output is spilled to a temporary file."""

MAX_FILE_OPCODES = 3_000_000
"""Opcodes all the pickles of one file may have together (legacy and tar files hold many)."""
MAX_PICKLES = 100_000
"""Pickles one file may hold (a tar checkpoint has one per storage and tensor)."""


@dataclass
class Budget:
    """What one file's scan has spent so far, across every archive, stream and pickle in it."""

    expanded: int = 0
    kept: int = 0
    opcodes: int = 0
    pickles: int = 0

    def charge(self, added: int, produced: int, consumed: int, what: str) -> None:
        """Count `added` new bytes of a stream that has produced `produced` from `consumed` so far."""
        self.expanded += added
        if self.expanded > MAX_EXPANDED:
            raise CapExceeded(f"{what} expands past {MAX_EXPANDED >> 30} GiB in total (cap MAX_EXPANDED)")
        if produced > RATIO_FLOOR and produced > MAX_RATIO * max(consumed, 1):
            raise CapExceeded(f"{what} expands more than {MAX_RATIO}:1 past {RATIO_FLOOR >> 20} MiB (cap MAX_RATIO)")

    def keep(self, added: int, what: str) -> None:
        self.kept += added
        if self.kept > MAX_KEPT:
            raise CapExceeded(
                f"{what}: more than {MAX_KEPT >> 20} MiB of decompressed archive to hold for reading (cap MAX_KEPT)"
            )


ACTIVE: ContextVar[Budget | None] = ContextVar("modellock_scan_budget", default=None)
"""The budget of the scan in progress: every pickle walk inside it charges this one."""


def charged(decoder: Decoder, budget: Budget, what: str) -> Iterator[bytes]:
    """The decoder's chunks, each charged to the budget before it is used."""
    for out in decoder.chunks():
        budget.charge(len(out), decoder.produced, decoder.consumed, what)
        yield out


def expand(source: Window, method: str, budget: Budget, what: str, *, keep: bool) -> tuple[int, Window | None]:
    """Decompress `source` in chunks, charging the budget; returns the size and, if `keep`, the bytes.

    Kept output stays in memory up to IN_MEMORY bytes, then goes to an anonymous temporary file
    mapped read-only, so memory stays bounded and small members cost no file.
    """
    decoder = Decoder(source, method)
    if not keep:
        for _ in charged(decoder, budget, what):
            pass
        return decoder.produced, None
    kept = collect(charged(decoder, budget, what), budget, what)
    return decoder.produced, kept


def collect(chunks: Iterator[bytes], budget: Budget, what: str, first: bytes = b"") -> Window:
    """Keep a stream's output for random access: in memory while small, then in a temporary file."""
    small: bytearray | None = bytearray(first)
    budget.keep(len(first), what)
    sink = None
    try:
        for out in chunks:
            budget.keep(len(out), what)
            if sink is not None:
                sink.write(out)
            elif small is not None:
                small += out
                if len(small) > IN_MEMORY:
                    sink = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
                    sink.write(small)
                    small = None
        if sink is None:
            return Window(bytes(small or b""))
        sink.flush()
        return Window(mmap.mmap(sink.fileno(), 0, access=mmap.ACCESS_READ))
    finally:
        if sink is not None:
            sink.close()


__all__ = ["CHUNK", "CapExceeded", "StreamError"]
