"""Deflated zip members scanned as they inflate: the cost of a compressed `.npz` is the cost of
inflating it, in a bounded window, whatever its size.

A numeric `.npy` member needs only its header and its length; a pickle member (an `.npz` object
array is kept for its header walk; a pandas `.zip` holds one pickle) is walked as it inflates.
Everything else is kept for random access, as before. The size and CRC the directory records are
checked on the bytes as they pass.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator

from modellock.gate.arrays import elements, has_objects, itemsize, npy_header
from modellock.gate.budget import Budget, StreamError, charged, collect
from modellock.gate.buffer import Window
from modellock.gate.decode import Decoder
from modellock.gate.streambuf import StreamBuffer
from modellock.gate.streamed import scan_pickle_stream
from modellock.gate.verdict import Finding, ScanResult
from modellock.gate.zipread import Member, ZipInvalid

_NPY_HEAD = 12 + (1 << 20)
"""An `.npy` header is at most 1 MiB (the limit `npy_header` applies), after 12 bytes of preamble."""


class _Checked:
    """A member's inflated chunks, with the running size and CRC to compare with the directory."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.size = 0
        self.crc = 0
        self.finished = False

    def __iter__(self) -> Iterator[bytes]:
        for out in self._chunks:
            self.size += len(out)
            self.crc = zlib.crc32(out, self.crc)
            yield out
        self.finished = True

    def verify(self, member: Member) -> None:
        if self.size != member.size:
            raise ZipInvalid(f"member {member.name!r} inflates to {self.size} bytes, its header says {member.size}")
        if self.crc != member.crc:
            raise ZipInvalid(f"member {member.name!r} fails its CRC check")


def scan_deflated(
    data: Window, member: Member, budget: Budget, streams_as_pickle: Callable[[bytes, str], bool]
) -> ScanResult | Window:
    """The member's scan when it can be made as it inflates; otherwise its bytes, kept and checked."""
    raw = data.sub(member.data_offset, member.compressed_size)
    if len(raw) != member.compressed_size:
        raise ZipInvalid(f"member {member.name!r} runs past the end of the file")
    what = f"zip member {member.name!r}"
    checked = _Checked(charged(Decoder(raw, "deflate"), budget, what))
    chunks = iter(checked)
    head = bytearray()
    try:
        for out in chunks:
            head += out
            if len(head) >= _NPY_HEAD or (len(head) >= 512 and not head.startswith(b"\x93NUMPY")):
                break
    except StreamError as exc:  # broken early: what came before it is what an unpickler reads first
        prefix = StreamBuffer(iter(()), bytes(head))
        prefix.error = exc
        return _judged(scan_pickle_stream(prefix), prefix, member)
    try:
        if head.startswith(b"\x93NUMPY"):
            result = _numeric(bytes(head), chunks, checked, member)
            if result is not None:
                return result
        elif streams_as_pickle(bytes(head[:512]), member.name):
            buf = StreamBuffer(chunks, bytes(head))
            result = scan_pickle_stream(buf)
            if buf.error is not None:
                return _judged(result, buf, member)
            if result is not None:
                if checked.finished:  # a complete pickle that ends the member: the usual case
                    checked.verify(member)
                return result
            # Not a pickle after all, or a walk that stopped early: read the rest for the full scan.
            head = bytearray()  # the window dropped what it read: decode again below
            checked = _Checked(charged(Decoder(raw, "deflate"), budget, what))
            chunks = iter(checked)
        kept = collect(chunks, budget, what, first=bytes(head))
    except StreamError as exc:
        raise ZipInvalid(f"member {member.name!r}: {exc}") from None
    checked.verify(member)
    return kept


def _judged(result: ScanResult | None, buf: StreamBuffer, member: Member) -> ScanResult:
    """A member whose inflating broke: refused, and named by what its prefix imports if it is a pickle."""
    if result is None:  # nothing an unpickler would act on before the error
        raise ZipInvalid(f"member {member.name!r}: {buf.error}")
    broken = Finding("invalid", f"zip archive: member {member.name!r}: {buf.error}")
    return ScanResult(result.format, result.kind, (*result.findings, broken))


def _numeric(head: bytes, chunks: Iterator[bytes], checked: _Checked, member: Member) -> ScanResult | None:
    """A numeric `.npy` member: its header, then only its length (and CRC) as the body streams past."""
    try:
        header, start = npy_header(Window(head))
    except (ValueError, SyntaxError, IndexError, MemoryError, RecursionError) as exc:
        return ScanResult("numpy", "data", (Finding("invalid", f".npy header: {exc}"),))
    descr = header["descr"]
    if has_objects(descr):
        return None  # an object array's body is a pickle: kept and walked by the scanner
    for _ in chunks:
        pass
    checked.verify(member)
    size = itemsize(descr)
    if size is None:
        return ScanResult("numpy", "data", (Finding("invalid", f".npy dtype {descr!r} is not one numpy writes"),))
    expected = elements(header["shape"]) * size
    if expected != checked.size - start:
        message = f".npy body is {checked.size - start} bytes, its header declares {expected}"
        return ScanResult("numpy", "data", (Finding("invalid", message),))
    return ScanResult("numpy", "data", ())
