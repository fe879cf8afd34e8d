"""`python -m benchmarks --only gate`: the gate on large compressed arrays, against inflating them.

A compressed `.npz` holding 300 MiB (the issue's case: about 5:1, like real embeddings stored as
floats with many repeated values) is scanned by `modellock.gate.scanner.scan_file` in a fresh
interpreter; the peer is the floor of any scan of it, inflating its members with zlib alone, also in
a fresh interpreter. Targets (issue #20): scan time <= 1.5x the inflate time, peak RSS <= 256 MiB.
The same is measured for a joblib file compressed with zlib (its arrays are inline in the pickle).
"""

from __future__ import annotations

import os
import random
import struct
import sys
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.measure import interleave, run_command

if TYPE_CHECKING:
    from benchmarks.run import Config, Row

MIB = 1 << 20
SCAN = (
    "import sys; from modellock.gate.scanner import scan_file; "
    "r = scan_file(sys.argv[1]); assert r.verdict == 'safe', r"
)
INFLATE = """
import sys, zipfile, zlib
with zipfile.ZipFile(sys.argv[1]) as archive:
    for info in archive.infolist():
        raw = open(sys.argv[1], "rb")
        raw.seek(info.header_offset + 26)
        skip = int.from_bytes(raw.read(2), "little") + int.from_bytes(raw.read(2), "little")
        raw.seek(info.header_offset + 30 + skip)
        left, stream = info.compress_size, zlib.decompressobj(-15)
        while left:
            piece = raw.read(min(left, 1 << 20))
            left -= len(piece)
            pending = piece
            while pending:
                stream.decompress(pending, 1 << 20)
                pending = stream.unconsumed_tail
"""


def _npy_header(shape: tuple[int, ...]) -> bytes:
    text = repr({"descr": "<f4", "fortran_order": False, "shape": shape}).encode()
    text += b" " * ((64 - (10 + len(text) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


def _values(size: int, rng: random.Random) -> bytes:
    """float32s drawn from a small set of values: compresses about 5:1 with deflate."""
    palette = [struct.pack("<f", rng.uniform(-1, 1)) for _ in range(16)]
    block = b"".join(rng.choice(palette) for _ in range(MIB // 16))
    out = bytearray()
    while len(out) < size:
        out += block[rng.randrange(0, 4) * 4 :] + os.urandom(256)
    return bytes(out[:size])


def write_npz(path: Path, total: int = 300 * MIB, members: int = 6) -> None:
    rng = random.Random(0)
    each = total // members // 4
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for i in range(members):
            with archive.open(f"emb{i}.npy", "w", force_zip64=True) as member:
                member.write(_npy_header((each,)))
                left = each * 4
                while left:
                    chunk = _values(min(left, 8 * MIB), rng)
                    member.write(chunk)
                    left -= len(chunk)


STREAM_INFLATE = """
import sys, zlib
stream, raw = zlib.decompressobj(), open(sys.argv[1], "rb")
while piece := raw.read(1 << 20):
    while piece:
        stream.decompress(piece, 1 << 20)
        piece = stream.unconsumed_tail
"""


def write_pickle_z(path: Path, total: int) -> None:
    """A zlib-compressed pickle (joblib's `.z`, pandas' arrays as protocol-5 bytes): a dict of large
    byte strings, compressed in pieces so the file is written without holding it."""
    rng = random.Random(1)
    squeeze = zlib.compressobj(3)
    with open(path, "wb") as out:
        out.write(squeeze.compress(b"\x80\x04}\x94("))
        each = 8 * MIB
        for i in range(total // each):
            key = f"layer{i}".encode()
            out.write(squeeze.compress(b"\x8c" + bytes([len(key)]) + key + b"\x8e" + struct.pack("<Q", each)))
            out.write(squeeze.compress(_values(each, rng)))
        out.write(squeeze.compress(b"u."))
        out.write(squeeze.flush())


def gate(cfg: Config) -> list[Row]:
    from benchmarks.run import Row, _row

    root = cfg.root / "gate"
    root.mkdir(parents=True, exist_ok=True)
    total = 300 * MIB if cfg.big > 256 * MIB else 64 * MIB
    npz = root / f"embeddings-{total // MIB}.npz"
    if not npz.exists():
        write_npz(npz.with_suffix(".tmp"), total)
        npz.with_suffix(".tmp").rename(npz)
    series = interleave(
        cfg.rounds,
        {
            "scan_file": lambda: run_command([sys.executable, "-c", SCAN, str(npz)], rss=True),
            "zlib inflate": lambda: run_command([sys.executable, "-c", INFLATE, str(npz)], rss=True),
        },
    )
    ours, peer = series["scan_file"], series["zlib inflate"]
    size = npz.stat().st_size / MIB
    note = f"{size:.0f} MiB file holding {total // MIB} MiB; inflate peak RSS {peer.peak_rss_mib:.0f} MiB"
    peak = ours.peak_rss_mib
    rows = [
        _row(f"gate: compressed .npz holding {total // MIB} MiB", ours, peer, 1.5, note),
        Row("peak RSS of the gate on that .npz", "scan_file", "-", ours.median, 0.0, peak, "≤ 256 MiB", peak <= 256),
    ]
    pickled = root / f"arrays-{total // MIB}.pkl.z"
    if not pickled.exists():
        write_pickle_z(pickled.with_suffix(".tmp"), total)
        pickled.with_suffix(".tmp").rename(pickled)
    clean = SCAN.replace("'safe'", "'clean'")
    series = interleave(
        cfg.rounds,
        {
            "scan_file": lambda: run_command([sys.executable, "-c", clean, str(pickled)], rss=True),
            "zlib inflate": lambda: run_command([sys.executable, "-c", STREAM_INFLATE, str(pickled)], rss=True),
        },
    )
    ours, peer = series["scan_file"], series["zlib inflate"]
    note = f"{pickled.stat().st_size / MIB:.0f} MiB file holding {total // MIB} MiB of pickled arrays"
    peak = ours.peak_rss_mib
    rows += [
        _row(f"gate: zlib-compressed pickle holding {total // MIB} MiB", ours, peer, 1.5, note),
        Row("peak RSS of the gate on that pickle", "scan_file", "-", ours.median, 0.0, peak, "≤ 256 MiB", peak <= 256),
    ]
    return rows


if __name__ == "__main__":  # a one-off: python -m benchmarks.gate_stream DIR
    target = Path(sys.argv[1]) / "embeddings.npz"
    write_npz(target)
    print(target, target.stat().st_size / MIB, zlib.ZLIB_VERSION)
