"""Decompressors run the way the loaders' file objects run them, yielding output in bounded chunks.

Every method a loader of model files decompresses is here: raw deflate (zip members), zlib
(joblib `.z`), gzip, bzip2, xz, LZMA-alone (joblib `.lzma`), the lz4 frame format (joblib `.lz4`)
and zstd (pandas `.zst`). Concatenated streams are decoded one after another, as `gzip.GzipFile`,
`bz2.BZ2File`, `lzma.LZMAFile` and `lz4.frame.LZ4FrameFile` do, so the scanner never sees less
than a loader. No call produces more than CHUNK bytes, whatever the input: a bomb costs time in
proportion to its output, never memory.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Iterator
from typing import Any

from modellock.gate.buffer import Window

CHUNK = 1024 * 1024
"""Most output one decompressor call may produce."""
STEP = 64 * 1024
"""Input handed to a decompressor at once."""
_ZSTD_STEP = 1024
"""Input handed to zstd per call: its API has no output bound, and 1 KiB of zstd input cannot
expand past 32 MiB (a block holds at most 128 KiB and costs at least 4 bytes)."""

_ZLIB_LIKE = ("deflate", "zlib", "gzip")
_SALVAGE_OUT = 256
MAX_SALVAGE = 256 * 1024 * 1024
"""Output of one bzip2, xz, lz4 or zstd stream decoded a second time to find what came before an error
(zlib streams are resumed from a copy instead). Past it, a broken stream's last piece (at most 64 KiB
of input) is judged by the output before that piece."""


MAX_LZMA_MEMORY = 256 * 1024 * 1024
"""Memory an xz or LZMA-alone decoder may take (its dictionary): xz -9 needs 65 MiB, joblib's and
pandas' defaults 4-8 MiB. A header that asks for more is refused by name, never read as "not LZMA"."""


MAX_STREAMS = 100_000
"""Streams concatenated in one container. Each costs a decoder and tens of microseconds of Python,
whatever its size: a 9 MB file of a million empty zstd frames took 33 s. Writers use one stream,
or one per block (bgzip: 64 KiB), so this is 6 GiB of bgzip input."""


class StreamError(Exception):
    """A compressed stream that does not decompress, stops short, or has other data after its end."""


class CapExceeded(Exception):
    """A scanning cap refused the file; the message names the cap."""


_ZSTD_CONTEXT: list[Any] = []


def _zstd() -> Any:
    """A frame's decoder. A decompression context costs ~30 µs to make, its decoder objects nothing:
    one context serves every frame, one frame at a time (the scan is single-threaded)."""
    import zstandard

    if not _ZSTD_CONTEXT:
        _ZSTD_CONTEXT.append(zstandard.ZstdDecompressor())
    return _ZSTD_CONTEXT[0].decompressobj()


def _lz4() -> Any:
    import lz4.frame

    return lz4.frame.LZ4FrameDecompressor()


def _open(method: str) -> Any:
    """One stream's decompressor; `lzma` is LZMA-alone, read as `lzma.LZMAFile` reads it (any
    header liblzma accepts, not only the `5d 00` prefix joblib looks for)."""
    factories: dict[str, Any] = {
        "deflate": lambda: zlib.decompressobj(-15),
        "zlib": lambda: zlib.decompressobj(zlib.MAX_WBITS),
        "gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
        "bzip2": bz2.BZ2Decompressor,
        # `lzma.LZMAFile` (joblib's xz and lzma, pandas' xz) opens every stream, the first and the
        # concatenated ones, with FORMAT_AUTO: xz, LZMA-alone under liblzma's picky rules, and lzip.
        "xz": lambda: lzma.LZMADecompressor(lzma.FORMAT_AUTO, memlimit=MAX_LZMA_MEMORY),
        "lzma": lambda: lzma.LZMADecompressor(lzma.FORMAT_AUTO, memlimit=MAX_LZMA_MEMORY),
        "lz4": _lz4,
        "zstd": _zstd,
    }
    try:
        return factories[method]()
    except ImportError as exc:  # a dependency removed by hand: refuse what cannot be read
        raise StreamError(f"no {method} decoder installed ({exc})") from None


def _errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError, EOFError, ValueError, lzma.LZMAError, zlib.error, RuntimeError]
    try:
        import zstandard

        errors.append(zstandard.ZstdError)
    except ImportError:  # pragma: no cover (a dependency; without it zstd fails to open, and is refused)
        pass
    return tuple(errors)


class Decoder:
    """The decompressed bytes of `source[start:]`, produced on demand by `chunks()`."""

    def __init__(self, source: Window, method: str, start: int = 0) -> None:
        self.source, self.method, self.start = source, method, start
        self.consumed = 0
        """Input bytes handed to the decompressor so far."""
        self.produced = 0
        self.streams = 0

    def chunks(self) -> Iterator[bytes]:
        """Output chunks; raises StreamError where a loader's reading fails too (after the output before it)."""
        errors = _errors()
        pos, total = self.start, len(self.source)
        pending: bytes | memoryview = b""
        zlib_like = self.method in _ZLIB_LIKE
        while True:
            stream = _open(self.method)
            self.streams += 1
            if self.streams > MAX_STREAMS:
                raise CapExceeded(f"more than {MAX_STREAMS} {self.method} streams concatenated (cap MAX_STREAMS)")
            began, begin = self.produced, pos - len(pending)
            piece, snapshot, before = len(pending), None, self.produced
            try:
                while not stream.eof:
                    if not pending:
                        if pos >= total:
                            break
                        pending = memoryview(self.source.read(pos, STEP))
                        pos += len(pending)
                        piece = len(pending)
                        self.consumed = pos - self.start
                    if zlib_like:  # a copy costs microseconds; it spares decoding the stream again
                        snapshot, before = (stream.copy(), pending), self.produced
                    for out in self._feed(stream, pending):
                        self.produced += len(out)
                        yield out
                    pending = self._left
            except errors as exc:
                if "Memory usage limit" in str(exc):
                    raise CapExceeded(
                        f"an {self.method} stream needs more than {MAX_LZMA_MEMORY >> 20} MiB to decode "
                        "(cap MAX_LZMA_MEMORY)"
                    ) from None
                if self.streams > 1 and self.produced == began:
                    raise StreamError(f"{total - begin} bytes after the end of the {self.method} stream") from None
                if snapshot is not None:
                    salvaged = self._resume(snapshot[0], snapshot[1], self.produced - before)
                else:
                    salvaged = self._salvage(begin, pos - piece, pos, self.produced - began)
                for out in salvaged:
                    self.produced += len(out)
                    yield out
                raise StreamError(f"{self.method} stream: {exc}") from None
            if not stream.eof:
                if self.streams > 1 and self.produced == began:
                    raise StreamError(f"{total - begin} bytes after the end of the {self.method} stream")
                raise StreamError(f"{self.method} stream is truncated")
            pending = memoryview(_unused(stream) + bytes(pending))
            if pos >= total and not pending:
                return
            if self.method == "deflate":
                raise StreamError("data after the end of the deflate stream")  # a zip member is one stream

    _left: bytes | memoryview = b""

    def _feed(self, stream: Any, pending: bytes | memoryview, most: int = CHUNK) -> Iterator[bytes]:
        """All the output one piece of input gives, in chunks of at most `most`; what is left of the piece
        (after the end of the stream) is in `_left`."""
        while True:
            pending, out = self._step(stream, pending, most)
            self._left = pending
            if out:
                yield out
            if stream.eof or not self._more(stream, pending, len(out), most):
                return

    def _more(self, stream: Any, pending: bytes | memoryview, produced: int, most: int) -> bool:
        if self.method == "zstd":
            return bool(pending)
        if self.method in _ZLIB_LIKE:  # output cut at `most` may leave more inside zlib, input or not
            return bool(pending) or produced == most
        return not stream.needs_input

    def _tiny_steps(self, stream: Any, piece: bytes | memoryview, seen: int) -> Iterator[bytes]:
        """Feed `piece` a byte in and a few bytes out per call, yielding what follows the first `seen`
        bytes: bzip2 and lz4 emit a whole block in the call that then fails its checksum, and zlib a
        whole piece, unless asked for less."""
        produced = 0
        for at in range(len(piece)):
            for out in self._feed(stream, piece[at : at + 1], _SALVAGE_OUT):
                produced += len(out)
                if produced > seen:
                    yield out[max(0, len(out) - (produced - seen)) :]
                    seen = produced

    def _resume(self, stream: Any, piece: bytes | memoryview, seen: int) -> Iterator[bytes]:
        """zlib: from the copy taken before the failing piece, that piece again in tiny steps."""
        try:
            yield from self._tiny_steps(stream, piece, seen)
        except _errors():
            return

    def _salvage(self, begin: int, failed: int, end: int, seen: int) -> Iterator[bytes]:
        """The output before the exact byte where decoding fails, for decompressors that cannot be
        copied: the stream is decoded again up to the failing piece (at most MAX_SALVAGE of output),
        then that piece in tiny steps, so the scanner sees at least what a loader's unpickler saw
        before its error (loaders read in blocks of 8-128 KiB)."""
        if seen > MAX_SALVAGE:
            return
        stream = _open(self.method)
        produced = 0
        try:
            at = begin
            while at < failed:
                piece = memoryview(self.source.read(at, min(STEP, failed - at)))
                for out in self._feed(stream, piece):
                    produced += len(out)
                    if produced > seen:
                        yield out[max(0, len(out) - (produced - seen)) :]
                        seen = produced
                at += len(piece)
            yield from self._tiny_steps(stream, memoryview(self.source.read(failed, end - failed)), seen - produced)
        except _errors():
            return

    def _step(self, stream: Any, pending: bytes | memoryview, most: int = CHUNK) -> tuple[bytes | memoryview, bytes]:
        if self.method == "zstd":
            return pending[_ZSTD_STEP:], stream.decompress(bytes(pending[:_ZSTD_STEP]))
        if self.method in _ZLIB_LIKE:
            out = stream.decompress(pending, most)
            return stream.unconsumed_tail, out
        return b"", stream.decompress(bytes(pending), most)


def _unused(stream: Any) -> bytes:
    return bytes(getattr(stream, "unused_data", b"") or b"")


def drain(decoder: Decoder) -> int:
    """Decode to the end, keeping nothing; the number of bytes produced."""
    for _ in decoder.chunks():
        pass
    return decoder.produced
