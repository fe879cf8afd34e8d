"""Findings of the attacker's review of the gate (issue #20's containers), one row each.

Every malicious fixture is written by tests/data/review/make_review.py, whose `--prove` mode shows the
real loaders (torch.load(weights_only=False), joblib.load, numpy.load(allow_pickle=True),
pandas.read_pickle, pickle.load) running its payload. Each must be refused under the default policy
and under `scan`; the safe rows are the same formats as real writers produce them.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from modellock.gate.decode import MAX_STREAMS
from modellock.gate.enforce import decide
from modellock.gate.scanner import is_tar_header, scan_bytes
from modellock.project.policy import Policy

DATA = Path(__file__).parent / "data" / "review"
DENY, SCAN = Policy(), Policy(pickle="scan")

MALICIOUS = [
    # A tar without `ustar` magic was "data": torch's legacy reader unpickles its `storages` member.
    "v7_torch_legacy.tar",
    # The same for pandas' `.tar` (its one member is unpickled).
    "v7_pandas.pkl.tar",
    # A tar is unpickled raw by joblib.load / np.load / pickle.load: its first member's name was never read.
    "tar_name_is_pickle.joblib",
    # A valid safetensors file whose first bytes are a pickle reaching into the tensor bytes.
    "safetensors_polyglot.bin",
    # A zip behind a tar or GGUF, or with text after its end record: pandas' `.zip` reader finds it.
    "tar_then_zip.pkl.zip",
    "gguf_then_zip.pkl.zip",
    "text_zip_text.pkl.zip",
    # A PT2 weight declared `"use_pickle": 1`: torch unpickles it, the gate read it as raw bytes.
    "pt2_use_pickle_1.pt2",
    # joblib's pipe layout (no alignment byte): the gate skipped one byte more than joblib, and
    # the GLOBAL/REDUCE joblib runs hid in a string of the gate's reading (clean under `scan`).
    "joblib_piped_payload.joblib",
    # An `f8` array whose pickled dtype state says 4 bytes: numpy reads 8, the gate skipped 4.
    "joblib_stated_itemsize_payload.joblib",
]


@pytest.mark.parametrize("name", MALICIOUS)
def test_malicious_refused_under_every_policy(name: str) -> None:
    result = scan_bytes((DATA / name).read_bytes(), name)
    assert result.kind != "data", result
    if not name.endswith((".zip", ".pt2", ".joblib")):  # refused by layout before the payload is walked
        assert any(f.verdict == "malicious" and "posix.system" in f.message for f in result.findings), result
    for policy in (DENY, SCAN):
        assert not decide(name, result, policy, "m").allowed, (name, policy)


def _safetensors(n_low: int, n_mid: int) -> bytes:
    tensor = {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}
    header = json.dumps({"__metadata__": {"format": "pt"}, "w": tensor}, separators=(",", ":")).encode()
    n = n_low + 256 * n_mid
    return struct.pack("<Q", n) + header.ljust(n) + bytes(range(16))


@pytest.mark.parametrize("mid", [0, 1, 0x28, 0x56, 0x63])
def test_safetensors_header_lengths_stay_data(mid: int) -> None:
    """Every low byte of the header length is some opcode's start; only a reading that imports or
    calls something may count (`.` STOP at byte 0, `c` reading JSON as a module name run nothing)."""
    for low in range(256):
        if low + 256 * mid < 90:
            continue
        result = scan_bytes(_safetensors(low, mid), "model.safetensors")
        assert (result.kind, result.findings) == ("data", ()), (hex(low), result)


def _tar(name: str, data: bytes, fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as archive:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (_tar("x.pkl", b"a", tarfile.USTAR_FORMAT)[:512], True),
        (_tar("x.pkl", b"a", tarfile.GNU_FORMAT)[:512], True),
        ((DATA / "v7_pandas.pkl.tar").read_bytes()[:512], True),
        (bytes(512), False),  # tarfile reads an empty first block as the end, not a header
        (b"\x80\x04" + bytes(510), False),
        ((DATA / "v7_pandas.pkl.tar").read_bytes()[:511], False),
    ],
)
def test_is_tar_header(head: bytes, expected: bool) -> None:
    assert is_tar_header(head) is expected


@pytest.mark.parametrize("name", ["checkpoint.tar", "df.pkl", "config.json", "cat.txt"])
def test_safe_tars_stay_data(name: str) -> None:
    """A tar whose first member's name begins a pickle that imports nothing stays data."""
    for fmt in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        result = scan_bytes(_tar(name, b'{\n"a": 1}\n', fmt), "archive.tar")
        assert (result.kind, result.findings) == ("data", ()), (name, fmt, result)


@pytest.mark.parametrize(
    ("tail", "zip_found"),
    [
        (b"PK\x05\x06" + bytes(18), True),  # exactly at the end: zipfile opens it (empty), refused as before
        (b"PK\x05\x06" + b"\x01\x00\x01\x00" + b"\x2e\x00\x00\x00" + b"\x10\x00\x00\x00\x00\x00", False),
        (b"PK\x05\x06" + bytes(30), False),
    ],
)
def test_end_record_in_tensor_bytes_is_not_a_zip(tail: bytes, zip_found: bool) -> None:
    """Tensor bytes may spell an end record by chance; only one whose directory is where it says counts."""
    tensor = {"dtype": "U8", "shape": [64 + len(tail)], "data_offsets": [0, 64 + len(tail)]}
    header = json.dumps({"w": tensor}).encode().ljust(96)
    data = struct.pack("<Q", len(header)) + header + bytes(64) + tail
    result = scan_bytes(data, "model.safetensors")
    assert any("zip" in f.message for f in result.findings) is zip_found, result


@pytest.mark.parametrize(
    ("name", "allowed_under_scan"),
    [
        ("joblib_pad16.joblib", True),  # joblib pads 16 bytes when the array would start aligned
        ("joblib_pad16_zlib.joblib", True),
        ("joblib_protocol1.joblib", True),  # protocols 0-1 build the wrapper through copyreg
        ("joblib_flexible.joblib", True),  # strings, void and records take their size from the state
        # Written to a pipe: no alignment byte, so pickle.load would read the array bytes as
        # opcodes; refused by design, like joblib < 1.2 files.
        ("joblib_piped.joblib", False),
    ],
)
def test_joblib_layouts(name: str, allowed_under_scan: bool) -> None:
    result = scan_bytes((DATA / name).read_bytes(), name)
    assert decide(name, result, SCAN, "m").allowed is allowed_under_scan, result
    assert not decide(name, result, DENY, "m").allowed


def _members(compress: str, data: bytes, count: int) -> bytes:
    import bz2
    import gzip
    import lzma

    import lz4.frame
    import zstandard

    one: dict[str, Callable[[bytes], bytes]] = {
        "gzip": lambda d: gzip.compress(d, mtime=0),
        "bzip2": bz2.compress,
        "xz": lzma.compress,
        "lz4": lz4.frame.compress,
        "zstd": zstandard.ZstdCompressor().compress,
    }
    if not data:
        return one[compress](b"") * count
    size = -(-len(data) // count)
    return b"".join(one[compress](data[i * size : (i + 1) * size]) for i in range(count))


@pytest.mark.parametrize("method", ["gzip", "bzip2", "xz", "lz4", "zstd"])
def test_concatenated_streams(method: str) -> None:
    """A pickle split over many streams is read on, as the loaders read it; past MAX_STREAMS empty
    streams (tens of microseconds each, whatever their size) the file is refused by that cap's name."""
    benign = pickle.dumps({"weights": list(range(3000))}, protocol=4)
    split = scan_bytes(_members(method, benign, 1000), "model.pkl")
    assert split.kind == "pickle" and split.findings == () and split.verdict == "clean", split
    empty = _members(method, b"", MAX_STREAMS + 1)
    started = time.monotonic()
    bomb = scan_bytes(empty, "model.pkl")
    assert any("MAX_STREAMS" in f.message for f in bomb.findings), bomb
    assert not decide("model.pkl", bomb, SCAN, "m").allowed
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("last", ["benign_zip.bin", "arrs.npz"])
def test_tar_whose_last_member_is_a_zip_stays_clean(last: str) -> None:
    """A zip archived last in a tar ends within its last 64 KiB, where zipfile finds it; it is exactly
    that member, scanned as one, so it is no zip hidden behind other data."""
    torch_dir = Path(__file__).parent / "data" / "torch"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name in ("arrs.npz", "benign_zip.bin", last):
            archive.add(torch_dir / name, arcname=f"model/{name}")
    result = scan_bytes(buf.getvalue(), "checkpoint.tar")
    assert not any("prepended" in f.message for f in result.findings), result
    assert decide("checkpoint.tar", result, SCAN, "m").allowed, result
