"""Every cap and parse failure is a named refusal, never "not a pickle": the bypasses of issue #10.

The inputs are built here, byte by byte: they are large or degenerate, not worth committing.
"""

from __future__ import annotations

import bz2
import io
import json
import struct
import time
import zipfile
import zlib

import pytest

from modellock.gate import budget
from modellock.gate.enforce import decide
from modellock.gate.pickle_walk import MAX_MEMO, MAX_OPCODES
from modellock.gate.scanner import scan_bytes
from modellock.project.policy import Policy
from tests import corpus

PAYLOAD = corpus.g("os", "system") + corpus.CMD + b"\x85R."
SCAN = Policy(pickle="scan")


def refused_by(data: bytes, name: str, words: str, policy: Policy = SCAN) -> str:
    result = scan_bytes(data, name)
    text = " | ".join(f.message for f in result.findings)
    assert not decide(name, result, policy, "m").allowed, (result.format, text)
    assert words in text, text
    return text


def test_a_long_argument_before_the_payload_is_still_walked() -> None:
    long_text = b"X" + struct.pack("<I", 1_100_000) + b"a" * 1_100_000 + b"0"
    data = corpus.P2 + long_text + PAYLOAD
    refused_by(data, "model.bin", "os.system", Policy())  # denied as a pickle, and graded malicious
    assert scan_bytes(data, "model.bin").verdict == "malicious"
    line = b"S'" + b"a" * 1_100_000 + b"'\n0"
    assert scan_bytes(corpus.P2 + line + PAYLOAD, "x.pkl").verdict == "malicious"
    assert scan_bytes(corpus.torch_zip(data), "pytorch_model.bin").verdict == "malicious"


def test_too_many_memo_entries_is_a_refusal_naming_the_cap() -> None:
    data = corpus.P2 + b"N" + b"\x94" * (MAX_MEMO + 2000) + b"0" + PAYLOAD
    text = refused_by(data, "model.bin", "MAX_MEMO")
    assert "cap" in text


def test_too_many_opcodes_is_a_refusal_naming_the_cap() -> None:
    data = corpus.P2 + b"N0" * (MAX_OPCODES // 2 + 10) + PAYLOAD
    started = time.perf_counter()
    refused_by(corpus.torch_zip(data), "model.bin", "MAX_OPCODES")
    assert time.perf_counter() - started < 20  # generous for slow CI; benchmarks/gate_worst.py measures


def test_nested_archives_are_capped_and_named() -> None:
    inner = corpus.torch_zip(corpus.BENIGN_STATE)
    for _ in range(5):
        inner = corpus.zip_bytes([("inner.zip", inner)])
    refused_by(inner, "weights.zip", "MAX_DEPTH")


def test_deflate_bomb_hits_the_expansion_cap() -> None:
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"\0" * (1 << 20)
    body = b"".join(squeeze.compress(chunk) for _ in range(300)) + squeeze.flush()
    member = zipfile.ZipInfo("big.npy")
    member.compress_type = zipfile.ZIP_DEFLATED
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(member, b"")
    raw = out.getvalue()
    # Splice the raw deflate stream in as the member's data, with sizes that claim 300 MiB.
    local = raw.find(b"PK\x03\x04")
    header = bytearray(raw[local : local + 30 + len("big.npy")])
    struct.pack_into("<IIII", header, 14, 0, len(body), 300 << 20, 0)
    header[26:30] = struct.pack("<HH", len("big.npy"), 0)
    central = bytearray(raw[raw.find(b"PK\x01\x02") : raw.find(b"PK\x05\x06")])
    struct.pack_into("<III", central, 16, 0, len(body), 300 << 20)
    struct.pack_into("<I", central, 42, 0)
    eocd = bytearray(raw[raw.find(b"PK\x05\x06") :])
    struct.pack_into("<II", eocd, 12, len(central), len(header) + len(body))
    bomb = bytes(header) + body + bytes(central) + bytes(eocd)
    # 300 MiB is no longer refused by size: the member is inflated in full and its CRC checked.
    refused_by(bomb, "arrays.npz", "CRC")


def test_expansion_past_the_total_cap_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "MAX_EXPANDED", 8 << 20)
    refused_by(zlib.compress(b"\0" * (9 << 20)), "model.pkl.z", "MAX_EXPANDED")


def test_bzip2_bomb_hits_the_ratio_cap() -> None:
    # bzip2 of 45 MiB of zeros is 81 bytes; concatenated streams are read on, as BZ2File reads them.
    bomb = bz2.compress(b"\0" * (45 << 20)) * 7
    refused_by(bomb, "model.pkl.bz2", "MAX_RATIO")


def test_overlapping_zip_members_are_refused() -> None:
    # a.txt's sizes are stretched over b.txt: the shape of the overlapping-entry zip bomb.
    data = bytearray(corpus.zip_bytes([("a.txt", b"x" * 100), ("b.txt", b"y" * 100)]))
    stretched = data.find(b"PK\x03\x04", 4) + 30 + len("b.txt") + 100 - (30 + len("a.txt"))
    first = data.find(b"PK\x01\x02")
    struct.pack_into("<II", data, first + 20, stretched, stretched)
    refused_by(bytes(data), "x.zip", "overlap")


def test_deeply_nested_safetensors_header_is_a_named_refusal() -> None:
    header = b'{"__metadata__": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    data = struct.pack("<Q", len(header)) + header
    refused_by(data, "model.safetensors", "nested too deeply")


def test_huge_gguf_arrays_are_skipped_not_materialised() -> None:
    count = 6_000_000
    kv = struct.pack("<Q", 4) + b"big!" + struct.pack("<IIQ", 9, 0, count) + b"\0" * count
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + kv
    started = time.perf_counter()
    assert scan_bytes(data, "m.gguf").verdict == "safe"
    assert time.perf_counter() - started < 5
    strings = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 3) + b"arr" + struct.pack("<IIQ", 9, 8, 2**40)
    refused_by(strings + b"\0" * 64, "m.gguf", "exceeds the file")


def test_content_contradicting_the_name_is_disguised_and_named() -> None:
    assert "disguised: named .safetensors but the content is pickle" in refused_by(
        corpus.BENIGN_STATE, "model.safetensors", "disguised"
    )
    refused_by(corpus.zip_bytes([("a.txt", b"hi")]), "model.gguf", "disguised: named .gguf but the content is zip")
    refused_by(corpus.torch_zip(corpus.BENIGN_STATE), "config.json", "disguised: named .json")
    refused_by(json.dumps({"a": 1}).encode(), "model.safetensors", "not safetensors")


def test_failures_before_any_import_are_no_pickle_but_after_one_are_refusals() -> None:
    # CPython stops at the same byte having run nothing: data, whatever the name.
    assert scan_bytes(b"\x93\x00\x01garbage", "weights.bin").verdict == "safe"
    # A payload followed by a broken stream (nullifAI) is refused, and so is a broken pickle after an import.
    refused_by(corpus.P2 + PAYLOAD[:-1] + b"\xff", "model.bin", "os.system")
    refused_by(corpus.P2 + corpus.g("collections", "OrderedDict") + b"\xff", "model.bin", "a broken pickle")


def test_the_pickles_of_one_file_share_one_opcode_budget() -> None:
    # A legacy stream is five pickles: each under the per-pickle cap, together over the file's.
    big = corpus.P2 + b"N0" * 600_000 + b"N."
    data = corpus.LEGACY_MAGIC + big + big + big + big + corpus.P2 + b"]."
    refused_by(data, "model.bin", "MAX_FILE_OPCODES")


def test_gguf_tensor_and_key_counts_are_capped_before_any_loop() -> None:
    data = b"GGUF" + struct.pack("<IQQ", 3, 300_000, 0) + b"\0" * (24 * 300_000)
    refused_by(data, "m.gguf", "MAX_GGUF_TENSORS")
