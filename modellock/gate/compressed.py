"""Compressed containers, recognised by content as the loaders that open them recognise them.

joblib picks its decompressor by the first bytes alone (`joblib/compressor.py`: zlib `78`, gzip
`1f 8b`, bzip2 `BZ`, LZMA-alone `5d 00`, xz `fd 37 7a 58 5a`, lz4 `04 22 4d 18`, and the `ZF`
files of joblib < 0.10); pandas picks it by the file's extension or the caller's `compression=`
(gzip, bz2, xz (which `lzma.LZMAFile` also reads as LZMA-alone), zstd, zip, tar). Either way the
decompressed bytes are unpickled, so a file that decodes as any of these is scanned as what it
decodes to, whatever its name.

"Not this container" needs a reason: a weak magic (one byte, or a header many files could start
with) counts as not compressed only when decoding yields nothing, or yields bytes that no unpickler
would act on (the walk breaks before importing or calling anything). A strong magic that does not
decode is refused as a broken container.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from modellock.gate.budget import Budget, StreamError, charged, collect
from modellock.gate.buffer import Window
from modellock.gate.decode import Decoder
from modellock.gate.streambuf import StreamBuffer
from modellock.gate.streamed import scan_pickle_stream
from modellock.gate.verdict import Finding, Kind, ScanResult, worst

PEEK = 64 * 1024
"""Decoded bytes looked at before deciding whether the content streams past (a pickle) or is kept."""
_SUFFIXES = (".gz", ".gzip", ".z", ".zlib", ".bz2", ".xz", ".lzma", ".lz4", ".zst", ".zstd", ".tgz")


@dataclass(frozen=True)
class Container:
    """A compressed stream a loader would open: its decoder, where it starts, how sure its magic is."""

    method: str
    label: str
    offset: int = 0
    strong: bool = True
    """A magic few files start with by chance: a stream that then fails to decode is refused as broken."""


def _zfile_length(field: bytes) -> bool:
    """joblib's `read_zfile` takes bytes 2-21 as `int(field, 16)`: whatever Python parses so (spaces,
    a sign, `0X`, underscores) opens the file as a ZF file."""
    try:
        int(field.decode("ascii"), 16)
    except (UnicodeDecodeError, ValueError):
        return False
    return len(field) == 19


def lzma_alone_header(head: bytes) -> bool:
    """An LZMA-alone header `lzma.LZMAFile` accepts (liblzma's picky rules): lc/lp/pb in range, a
    dictionary size of 2^n or 2^n + 2^(n-1), an uncompressed size under 256 GiB or unknown."""
    if len(head) < 13 or head[0] > 224:
        return False
    lc, lp = head[0] % 9, head[0] // 9 % 5
    if lc + lp > 4:
        return False
    dictionary = int.from_bytes(head[1:5], "little")
    d = dictionary - 1
    for shift in (2, 3, 4, 8, 16):
        d |= d >> shift
    if dictionary != 0xFFFFFFFF and (d + 1) & 0xFFFFFFFF != dictionary:
        return False
    size = int.from_bytes(head[5:13], "little")
    return size == (1 << 64) - 1 or size < 1 << 38


def containers(head: bytes) -> list[Container]:
    """Every compressed stream the first bytes could begin, as the loaders would open it."""
    found: list[Container] = []
    if head.startswith(b"\x1f\x8b\x08"):
        found.append(Container("gzip", "gzip"))
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        found.append(Container("zlib", "zlib", strong=False))  # joblib's `.z` (joblib tries any `78`)
    if head.startswith(b"ZF") and _zfile_length(head[2:21]):
        found.append(Container("zlib", "joblib-zfile", offset=22 if head[21:22] == b" " else 21))
    if head.startswith(b"BZh") and head[3:4] in b"123456789" and len(head) > 3:
        found.append(Container("bzip2", "bzip2", strong=False))
    if head.startswith(b"\xfd7zXZ\x00"):
        found.append(Container("xz", "xz"))
    if head.startswith(b"LZIP") and head[4:5] in (b"\x00", b"\x01"):
        found.append(Container("xz", "lzip"))  # what LZMAFile's FORMAT_AUTO also reads (liblzma >= 5.4)
    if lzma_alone_header(head):
        found.append(Container("lzma", "lzma", strong=head.startswith(b"\x5d\x00")))
    if head.startswith(b"\x04\x22\x4d\x18"):
        found.append(Container("lz4", "lz4"))
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        found.append(Container("zstd", "zstd"))
    elif len(head) >= 4 and head[0] & 0xF0 == 0x50 and head[1:4] == b"\x2a\x4d\x18":
        found.append(Container("zstd", "zstd", strong=False))  # a skippable frame first
    return found


InnerScan = Callable[[Window, str, int], ScanResult]
"""The scanner's own `_scan(content, name, depth)`, for content that is kept and read at random."""


def inner_name(name: str) -> str:
    """The name of what a compressed file holds (`x.pkl.gz` holds `x.pkl`), for the checks by name."""
    lower = name.lower()
    for suffix in _SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)] + (".tar" if suffix == ".tgz" else "")
    return name


StreamsAsPickle = Callable[[bytes, str], bool]
"""The scanner's judgement that decoded bytes (their head, their name) are read as a pickle."""


def scan_container(
    data: Window, name: str, budget: Budget, depth: int, box: Container, streams_as_pickle: StreamsAsPickle,
    inner: InnerScan,
) -> ScanResult | None:  # fmt: skip
    """The scan of what the container decodes to; None when it is not that container after all."""
    what = f"{box.label} stream"
    decoder = Decoder(data, box.method, box.offset)
    chunks = charged(decoder, budget, what)
    head, error, done = _peek(chunks)
    if not head and error is not None:
        return _broken(box, error) if box.strong else None
    content_name = inner_name(name)
    if error is None and not done and streams_as_pickle(bytes(head[:512]), content_name):
        return _streamed(box, StreamBuffer(chunks, bytes(head)))
    if error is not None or (done and streams_as_pickle(bytes(head[:512]), content_name)):
        return _prefix(box, head, error)
    try:
        kept = Window(bytes(head)) if done else collect(chunks, budget, what, first=bytes(head))
    except StreamError as exc:
        return _prefix(box, head, exc)
    result = inner(kept, content_name, depth + 1)
    return ScanResult(f"{box.label}+{result.format}", result.kind, result.findings)


def _prefix(box: Container, head: bytearray, error: StreamError | None) -> ScanResult | None:
    """Decoding failed after some output (or the stream is small): loaders unpickle that prefix before
    they see the error, so it is judged as a pickle."""
    prefix = StreamBuffer(iter(()), bytes(head))
    prefix.error = error
    return _streamed(box, prefix)


def _peek(chunks: Iterator[bytes]) -> tuple[bytearray, StreamError | None, bool]:
    head = bytearray()
    try:
        while len(head) < PEEK:
            head += next(chunks)
    except StopIteration:
        return head, None, True
    except StreamError as exc:
        return head, exc, True
    return head, None, False


def _broken(box: Container, error: StreamError) -> ScanResult:
    return ScanResult(box.label, "data", (Finding("invalid", f"a broken {box.label} container: {error}"),))


def _streamed(box: Container, buf: StreamBuffer) -> ScanResult | None:
    result = scan_pickle_stream(buf)
    if result is None:
        # No unpickler acts on these bytes. A stream that decodes cleanly is data; a broken one is
        # not this container (weak magic) or a broken container (strong).
        if buf.error is None:
            return ScanResult(f"{box.label}+data", "data", ())
        return _broken(box, buf.error) if box.strong else None
    findings = result.findings
    if buf.error is not None:
        findings = (*findings, Finding("invalid", f"the {box.label} stream breaks after the pickle began: {buf.error}"))
    return ScanResult(f"{box.label}+{result.format}", result.kind, findings)


def merge(a: ScanResult, b: ScanResult) -> ScanResult:
    """Two readings of the same bytes (a compressed stream, and the raw bytes as a pickle)."""
    kind: Kind = worst(a.kind, b.kind)
    return ScanResult(a.format, kind, (*a.findings, *b.findings))


__all__ = ["Container", "containers", "inner_name", "lzma_alone_header", "merge", "scan_container"]
