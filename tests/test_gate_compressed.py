"""Compressed containers: each magic a loader decompresses on is recognised, every nesting a loader
opens is followed, and "not a pickle" is only ever concluded with a reason.

Streams are written by the real compressors (zlib, gzip, bz2, lzma, lz4.frame, zstandard); the real
joblib and pandas files are in the corpus (tests/data/make_corpus.py, `compressed_families`).
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import pickle
import random
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import lz4.frame
import pytest
import zstandard

from modellock.gate import scanner
from modellock.gate.compressed import Container, containers, inner_name, lzma_alone_header
from modellock.gate.enforce import decide
from modellock.gate.scanner import scan_bytes
from modellock.project.policy import Policy
from tests import corpus
from tests.helpers import cli, snapshot
from tests.hub import FakeHub

PAYLOAD = corpus.call("os", "system")
BENIGN = pickle.dumps({"weights": [1.0, 2.0], "epoch": 3}, protocol=4)
DENY, SCAN = Policy(), Policy(pickle="scan")


def joblib_zfile(data: bytes) -> bytes:
    """joblib < 0.10's `ZF` file, as `numpy_pickle_compat.write_zfile` writes it."""
    return b"ZF" + f"{len(data):#x}".ljust(19).encode() + zlib.compress(data)


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "zlib": zlib.compress,
    "gzip": lambda d: gzip.compress(d, mtime=0),
    "bzip2": bz2.compress,
    "xz": lambda d: lzma.compress(d, format=lzma.FORMAT_XZ),
    "lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
    "lz4": lz4.frame.compress,
    "zstd": zstandard.ZstdCompressor().compress,
    "joblib-zfile": joblib_zfile,
}


# -- recognisers -----------------------------------------------------------------------------------------


def _alone(lc: int, lp: int, pb: int, dictionary: int, size: int = (1 << 64) - 1) -> bytes:
    return bytes([(pb * 5 + lp) * 9 + lc]) + dictionary.to_bytes(4, "little") + size.to_bytes(8, "little") + b"\0"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x1f\x8b\x08\x00", [Container("gzip", "gzip")]),
        (b"\x1f\x8b\x07\x00", []),  # gzip's only method is deflate (8): GzipFile refuses the rest
        (b"\x78\x9c", [Container("zlib", "zlib", strong=False)]),
        (b"\x78\x01", [Container("zlib", "zlib", strong=False)]),
        (b"\x78\x5e", [Container("zlib", "zlib", strong=False)]),
        (b"\x78\xda", [Container("zlib", "zlib", strong=False)]),
        (b"\x78\x00", []),  # fails zlib's header check: zlib.decompress refuses it at once
        (b"ZF0x1f" + b" " * 15 + b"\x78", [Container("zlib", "joblib-zfile", offset=21)]),
        (b"ZF0x1f" + b" " * 16 + b"\x78", [Container("zlib", "joblib-zfile", offset=22)]),
        (b"ZF  +0X1_F" + b" " * 11 + b"\x78", [Container("zlib", "joblib-zfile", offset=21)]),  # int(_, 16)
        (b"ZFzz" + b" " * 17, []),
        (b"BZh91AY&SY", [Container("bzip2", "bzip2", strong=False)]),
        (b"BZh0", []),
        (b"\xfd7zXZ\x00\x00", [Container("xz", "xz")]),
        (_alone(3, 0, 2, 1 << 23), [Container("lzma", "lzma")]),  # joblib's `5d 00`
        (_alone(0, 2, 0, 3 << 20, 100), [Container("lzma", "lzma", strong=False)]),  # what LZMAFile reads
        (_alone(3, 0, 2, (1 << 23) + 1), []),  # a dictionary size liblzma's picky reader refuses
        (_alone(3, 2, 2, 1 << 23), []),  # lc + lp > 4
        (_alone(3, 0, 2, 1 << 23, 1 << 40), []),  # an uncompressed size over 256 GiB
        (b"LZIP\x01\x0c", [Container("xz", "lzip")]),  # LZMAFile's FORMAT_AUTO reads lzip (liblzma >= 5.4)
        (b"\x04\x22\x4d\x18\x64", [Container("lz4", "lz4")]),
        (b"\x28\xb5\x2f\xfd\x00", [Container("zstd", "zstd")]),
        (b"\x50\x2a\x4d\x18\x04\x00\x00\x00", [Container("zstd", "zstd", strong=False)]),
        (b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", []),  # a plain pickle
        (b"PK\x03\x04", []),
    ],
)
def test_each_magic_is_recognised_as_its_loader_reads_it(head: bytes, expected: list[Container]) -> None:
    assert containers(head) == expected


def test_the_lzma_alone_rule_is_liblzmas() -> None:
    # Every header the real encoder writes passes; LZMAFile (the reader joblib and pandas use) agrees.
    for preset in range(10):
        data = lzma.compress(BENIGN, format=lzma.FORMAT_ALONE, preset=preset)
        assert lzma_alone_header(data[:13]), preset
        assert lzma.decompress(data) == BENIGN  # the format LZMAFile reads: FORMAT_AUTO
    refused = _alone(3, 0, 2, (1 << 23) + 1)[:13] + lzma.compress(BENIGN, format=lzma.FORMAT_ALONE)[13:]
    with pytest.raises(lzma.LZMAError):
        lzma.decompress(refused)
    assert not lzma_alone_header(refused)


# -- end to end: every compressor, both policies ------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(COMPRESSORS))
@pytest.mark.parametrize("name", ["model.pkl", "pytorch_model.bin", "weights.joblib", "data"])
def test_a_compressed_payload_is_refused_under_every_policy(method: str, name: str) -> None:
    data = COMPRESSORS[method](PAYLOAD)
    result = scan_bytes(data, name)
    assert result.verdict == "malicious", (method, result)
    assert any("os.system" in f.message for f in result.findings), result.findings
    for policy in (DENY, SCAN):
        assert not decide(name, result, policy, "m").allowed


@pytest.mark.parametrize("method", sorted(COMPRESSORS))
def test_a_compressed_benign_pickle_is_a_pickle(method: str) -> None:
    data = COMPRESSORS[method](BENIGN)
    result = scan_bytes(data, "model.pkl")
    assert (result.kind, result.verdict) == ("pickle", "clean"), result
    assert result.format.startswith(method)
    assert decide("model.pkl", result, SCAN, "m").allowed
    refusal = decide("model.pkl", result, DENY, "m")
    assert not refusal.allowed and "pickle-based" in refusal.reason


def test_the_joblib_lzma_bypass_of_issue_20() -> None:
    # 0x5d, LZMA-alone's first byte, is also EMPTY_LIST: read raw, the walk broke at byte 1.
    data = lzma.compress(PAYLOAD, format=lzma.FORMAT_ALONE)
    assert data[:2] == b"\x5d\x00"
    result = scan_bytes(data, "pytorch_model.bin")
    assert result.format == "lzma+pickle" and result.verdict == "malicious"
    assert not decide("pytorch_model.bin", result, DENY, "m").allowed


# -- nesting --------------------------------------------------------------------------------------------------


def _tar(members: list[tuple[str, bytes]], mode: str = "w") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("pandas .tar.gz", _tar([("x.pkl", PAYLOAD)], "w:gz")),
        ("pandas .tar.bz2", _tar([("x.pkl", PAYLOAD)], "w:bz2")),
        ("pandas .tar.xz", _tar([("x.pkl", PAYLOAD)], "w:xz")),
        ("pandas .zip", corpus.zip_bytes([("x.pkl", PAYLOAD)])),
        ("a zip member compressed again", corpus.zip_bytes([("x.pkl.lzma", COMPRESSORS["lzma"](PAYLOAD))])),
        ("an lz4 joblib file inside a tar", _tar([("model.joblib", COMPRESSORS["lz4"](PAYLOAD))])),
        ("npz object array", corpus.zip_bytes([("a.npy", corpus.npy("|O", (1,), PAYLOAD))])),
        ("a gzip of an lzma stream", COMPRESSORS["gzip"](COMPRESSORS["lzma"](PAYLOAD))),
    ],
)
def test_nested_payloads_are_found(label: str, data: bytes) -> None:
    result = scan_bytes(data, "model.bin")
    assert result.verdict == "malicious", (label, result)
    assert not decide("model.bin", result, DENY, "m").allowed


# -- "not a pickle" needs a reason -------------------------------------------------------------------------


def test_text_that_starts_like_a_weak_magic_is_data() -> None:
    for text in (b"x^2 + y^2 = 1\n" * 20, b"x\x01 is a byte\n", b"BZh9 is bzip2's header\n"):
        result = scan_bytes(text, "notes.bin")
        assert (result.kind, result.verdict) == ("data", "safe"), (text, result)


def loader_prefix(method: str, data: bytes) -> bytes:
    """What the loaders' own file objects hand an unpickler, read 8 KiB at a time, before any error."""
    opened: dict[str, Callable[[io.BytesIO], object]] = {
        "gzip": lambda f: gzip.GzipFile(fileobj=f),
        "bzip2": bz2.BZ2File,
        "xz": lzma.LZMAFile,
        "lzma": lzma.LZMAFile,
        "lz4": lz4.frame.LZ4FrameFile,
        "zstd": lambda f: zstandard.ZstdDecompressor().stream_reader(f),
    }
    seen = b""
    if method == "zlib":  # joblib's BinaryZlibFile feeds 8 KiB blocks to one decompressobj
        stream = zlib.decompressobj()
        try:
            for at in range(0, len(data), 8192):
                seen += stream.decompress(data[at : at + 8192])
        except zlib.error:
            pass
        return seen
    reader = opened[method](io.BytesIO(data))
    try:
        while chunk := reader.read(8192):  # type: ignore[attr-defined]
            seen += chunk
    except Exception:  # each library raises its own error type
        pass
    return seen


@pytest.mark.parametrize("method", ["zlib", "bzip2", "lzma", "gzip", "xz", "lz4", "zstd"])
def test_trailing_garbage_or_a_broken_tail_does_not_hide_a_payload(method: str) -> None:
    whole = COMPRESSORS[method](PAYLOAD + bytes(range(256)) * 400)  # STOP comes long before the end
    for data in (
        whole + b"garbage after the stream",
        whole[: len(whole) * 2 // 3],
        whole[: len(whole) // 3],
        whole[:-2] + b"\xff\xff",
    ):
        result = scan_bytes(data, "model.bin")
        if loader_prefix(method, data).startswith(PAYLOAD[:-1]):  # what an unpickler then acts on
            assert result.verdict == "malicious", (method, len(data), result)
        else:  # no loader ever reaches the payload: no refusal is owed, but none is wrong either
            assert result.verdict in ("malicious", "invalid", "safe"), result


@pytest.mark.parametrize("method", ["zlib", "gzip", "bzip2", "xz", "lzma", "lz4", "zstd"])
def test_damaged_streams_never_hide_what_a_loader_would_unpickle(method: str) -> None:
    """Random truncations, bit flips, trailing bytes and mixed concatenations, against the loaders' own
    file objects: whenever one hands an unpickler the payload, the scan refuses it."""
    rng = random.Random(method)
    base = COMPRESSORS[method](PAYLOAD + bytes(range(256)) * 200)
    seen = 0
    for _ in range(120):
        data = bytearray(base)
        damage = rng.randrange(4)
        if damage == 0:
            data = data[: rng.randrange(5, len(data))]
        elif damage == 1:
            for _ in range(rng.randrange(1, 4)):
                at = rng.randrange(13 if method == "lzma" else 6, len(data))
                data[at] ^= 1 << rng.randrange(8)
        elif damage == 2:
            data += rng.randbytes(rng.randrange(1, 40))
        else:
            other = rng.choice(["xz", "lzma"]) if method in ("xz", "lzma") else method
            half = len(PAYLOAD) // 2
            data = bytearray(COMPRESSORS[method](PAYLOAD[:half]) + COMPRESSORS[other](PAYLOAD[half:]))
        result = scan_bytes(bytes(data), "model.bin")
        if loader_prefix(method, bytes(data)).startswith(PAYLOAD[:-1]):
            seen += 1
            assert result.verdict == "malicious", (method, damage, result)
    assert seen >= 30  # the damage left the payload readable often enough to mean something


def test_concatenated_streams_are_read_on_as_the_loaders_read_them() -> None:
    for method in ("gzip", "bzip2", "xz", "lzma", "lz4", "zstd"):
        data = COMPRESSORS[method](PAYLOAD[:10]) + COMPRESSORS[method](PAYLOAD[10:])
        assert scan_bytes(data, "model.pkl").verdict == "malicious", method


def test_a_broken_strong_container_is_refused_not_data() -> None:
    for method in ("gzip", "xz", "lz4", "zstd"):
        data = COMPRESSORS[method](b"\x00" * 1000)[:12]
        result = scan_bytes(data, "weights.bin")
        assert result.verdict == "invalid", (method, result)


def test_an_lzma_header_asking_for_too_much_memory_is_a_named_refusal() -> None:
    data = bytearray(COMPRESSORS["lzma"](PAYLOAD))
    data[1:5] = (1 << 30).to_bytes(4, "little")  # a 1 GiB dictionary: still what joblib.load reads
    assert lzma.decompress(bytes(data)) == PAYLOAD
    result = scan_bytes(bytes(data), "model.joblib")
    assert result.verdict == "invalid"
    assert any("MAX_LZMA_MEMORY" in f.message for f in result.findings), result.findings


def test_a_large_compressed_pickle_streams_and_finds_a_late_payload() -> None:
    big = pickle.dumps(b"\x01" * (80 << 20), protocol=4)[:-1] + b"0" + PAYLOAD[2:]  # 80 MiB, then the payload
    for method in ("zlib", "zstd"):
        result = scan_bytes(COMPRESSORS[method](big), "model.pkl")
        assert result.verdict == "malicious", (method, result)


# -- caps chosen from what real libraries write ----------------------------------------------------------------


def test_a_tar_past_the_old_member_cap_is_scanned_and_its_cap_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # 40,000 members used to be refused; text members that start with an opcode letter cost no pickle slot.
    members = [(f"d/{i}.txt", b"hello %d\n" % i) for i in range(40_500)]
    members.append(("d/x.pkl", PAYLOAD))
    data = _tar(members)
    result = scan_bytes(data, "dataset.tar")
    assert result.verdict == "malicious" and any("d/x.pkl" in f.message for f in result.findings)
    monkeypatch.setattr(scanner, "MAX_TAR_MEMBERS", 1000)
    result = scan_bytes(data, "dataset.tar")
    assert result.verdict == "invalid" and "MAX_TAR_MEMBERS" in result.findings[0].message


def test_a_compressed_npz_streams_past_the_old_expansion_cap() -> None:
    # 300 MiB of zeros in one member: inflated and counted, never kept (the old 256 MiB cap refused it).
    header = corpus.npy("<f4", (300 << 18,), b"")
    body = header + bytes(300 << 20)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("zeros.npy", body)
    result = scan_bytes(out.getvalue(), "embeddings.npz")
    assert (result.format, result.verdict) == ("npz", "safe"), result
    with zipfile.ZipFile(out := io.BytesIO(), "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("short.npy", corpus.npy("<f4", (1 << 18,), b"") + bytes((1 << 20) - 4))  # a float short
    result = scan_bytes(out.getvalue(), "embeddings.npz")
    assert result.verdict == "invalid" and "header declares" in result.findings[0].message


def test_npz_object_arrays_and_pandas_zip_pickles_are_walked_when_deflated() -> None:
    obj = corpus.npy("|O", (1,), PAYLOAD)
    for members, name in (([("a.npy", obj)], "arrays.npz"), ([("frame.pkl", PAYLOAD)], "frame.pkl.zip")):
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for member, data in members:
                archive.writestr(member, data)
        result = scan_bytes(out.getvalue(), name)
        assert result.verdict == "malicious", result
    with zipfile.ZipFile(out := io.BytesIO(), "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("frame.pkl", BENIGN)
    assert scan_bytes(out.getvalue(), "frame.pkl.zip").verdict == "clean"


# -- the real libraries' files (tests/data/make_corpus.py `compressed`, every label proven by loading) -------

CORPUS = Path(__file__).parent / "data" / "corpus"
REAL = {k: v for k, v in json.loads((CORPUS / "MANIFEST.json").read_text()).items() if "/compressed/" in k}


def test_the_compressed_corpus_covers_every_loader_and_compressor() -> None:
    names = " ".join(REAL)
    for compressor in ("zlib", "gzip", "bz2", "lzma", "xz", "lz4"):
        for kind in ("safe", "malicious"):
            assert f"{kind}/compressed/joblib_{compressor}.joblib" in REAL, (kind, compressor)
    for method in ("gzip", "bz2", "zip", "xz", "zstd", "tar"):
        assert f"malicious/compressed/pandas_{method}" in names and f"safe/compressed/pandas_{method}" in names
    assert "savez_compressed.npz" in names and "savez_compressed_object.npz" in names


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_compressed_files_under_deny_and_scan(name: str) -> None:
    result = scanner.scan_file(CORPUS / name, name)
    deny, scan = decide(name, result, DENY, "m"), decide(name, result, SCAN, "m")
    if REAL[name]["expect"] == "malicious":
        assert result.verdict == "malicious", result
        assert any("system (" in f.message for f in result.findings), result.findings
        assert not deny.allowed and not scan.allowed
        assert "posix.system" in deny.reason or "pickle-based" in deny.reason
        return
    assert result.verdict in ("safe", "clean"), result
    assert scan.allowed
    if result.kind == "pickle":  # a compressed pickle is a pickle: denied as one by default
        assert not deny.allowed and "pickle-based" in deny.reason
    else:
        assert deny.allowed and name.endswith(".npz")


# -- end to end: lock against the Hub emulator -------------------------------------------------------------------


def test_lock_refuses_the_joblib_lzma_payload_under_the_default_policy_and_scan(project: Path, hub: FakeHub) -> None:
    evil = (CORPUS / "malicious/compressed/joblib_lzma.joblib").read_bytes()
    hub.repo("acme/evil").commit({"config.json": b"{}", "pytorch_model.bin": evil})
    for policy in ("", 'pickle = "scan"\n'):
        (project / "modellock.toml").write_text(f'[models.evil]\nrepo = "acme/evil"\n{policy}')
        before = snapshot(project)
        run = cli("lock")
        assert run.exit_code == 1, run.stdout
        assert "pytorch_model.bin (lzma+joblib): malicious" in run.stderr and "posix.system" in run.stderr
        assert snapshot(project) == before


def test_lock_admits_a_safe_compressed_joblib_under_scan_and_denies_it_by_default(project: Path, hub: FakeHub) -> None:
    safe = (CORPUS / "safe/compressed/joblib_lz4.joblib").read_bytes()
    hub.repo("acme/arrays").commit({"config.json": b"{}", "model.joblib": safe})
    (project / "modellock.toml").write_text('[models.arrays]\nrepo = "acme/arrays"\n')
    run = cli("lock")
    assert run.exit_code == 1 and "model.joblib (lz4+joblib): pickle-based" in run.stderr
    (project / "modellock.toml").write_text('[models.arrays]\nrepo = "acme/arrays"\npickle = "scan"\n')
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    assert 'format = "lz4+joblib", scan = "clean"' in (project / "modellock.lock").read_text()


def test_a_damaged_zip_member_is_named_by_the_payload_before_the_damage() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("frame.pkl", PAYLOAD + bytes(range(256)) * 300)
    data = bytearray(out.getvalue())
    data[300] ^= 0xFF  # inside the deflate stream, well after the payload's bytes
    result = scan_bytes(bytes(data), "frame.pkl.zip")
    assert result.verdict == "malicious" and any("os.system" in f.message for f in result.findings), result


@pytest.mark.parametrize("method", ["zlib", "gzip", "bzip2", "xz", "lz4", "zstd"])
def test_damage_in_the_same_input_piece_as_the_payload_does_not_hide_it(method: str) -> None:
    # 200 KB of incompressible bytes first: the payload's compressed bytes sit deep in the stream, and
    # the damage right after them falls in the piece of input the decoder was given with them.
    filler = random.Random(5).randbytes(200_000)
    body = b"\x80\x04\x8e" + len(filler).to_bytes(8, "little") + filler + b"0" + PAYLOAD[2:]
    whole = COMPRESSORS[method](body + random.Random(6).randbytes(50_000))
    for offset in (len(body) // 2, len(whole) * len(body) // (len(body) + 50_000) + 200):
        data = bytearray(whole)
        data[min(offset, len(data) - 20)] ^= 0x55
        result = scan_bytes(bytes(data), "model.bin")
        if loader_prefix(method, bytes(data)).startswith(body[:-1]):
            assert result.verdict == "malicious", (method, offset, result)


@pytest.mark.parametrize(
    ("head", "name", "streams"),
    [
        (BENIGN[:64], "model.pkl", True),
        (BENIGN[:64], "frame", True),  # what a compressed stream holds: unpickled whatever its name
        (BENIGN[:64], "setup.py", False),  # judged as code by name when it is no pickle: kept whole
        (BENIGN[:64], "notes.txt", False),
        (b"\x93NUMPY\x01\x00", "a.npy", False),  # 0x93 is STACK_GLOBAL, but this is an array
        (b"PK\x03\x04", "x.pkl", False),  # P is PERSID, but this is a zip
        (b"GGUF\x03\x00", "x.pkl", False),  # G is BINFLOAT
        (b"BZh91AY&SY", "x.pkl", False),  # B is BINBYTES, but this is bzip2
        (b"\x5d\x00\x00\x80\x00" + b"\xff" * 8, "x.pkl", False),  # ] is EMPTY_LIST, but this is LZMA-alone
        (b"\x28\xb5\x2f\xfd", "x.pkl", False),  # ( is MARK, but this is zstd
        (b"\x10\x00\x00\x00\x00\x00\x00\x00{}", "x.pkl", False),  # a safetensors header
        (b"hello", "x.pkl", True),
        (b"\x00\x01", "x.pkl", False),  # no opcode
    ],
)
def test_which_decoded_bytes_are_walked_as_they_stream(head: bytes, name: str, streams: bool) -> None:
    assert scanner._streams_as_pickle(head, name) is streams


@pytest.mark.parametrize(
    ("name", "member_streams"), [("frame.pkl", True), ("model.joblib", True), ("frame", False), ("a.txt", False)]
)
def test_zip_members_stream_only_under_a_pickle_name(name: str, member_streams: bool) -> None:
    assert scanner._member_streams_as_pickle(BENIGN[:64], name) is member_streams


@pytest.mark.parametrize(
    ("name", "inner"),
    [
        ("x.pkl.gz", "x.pkl"),
        ("x.joblib", "x.joblib"),
        ("a.tgz", "a.tar"),
        ("m.pkl.zst", "m.pkl"),
        ("M.PKL.XZ", "M.PKL"),
    ],
)
def test_the_name_inside_a_compressed_stream(name: str, inner: str) -> None:
    assert inner_name(name) == inner
