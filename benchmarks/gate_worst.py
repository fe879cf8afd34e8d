"""Worst cases for the safety gate: scan time and peak RSS against the caps.

    python -m benchmarks.gate_worst [--dir DIR] [--only NAME] [--scan-python .venv/bin/python]

The torch, numpy and joblib cases need those libraries to write their files (run this module with
the corpus environment of tests/data/make_corpus.py and point --scan-python at the project's).

Each case is written to disk once (large ones as sparse files where that is the point), then
scanned in a fresh interpreter that reports its own wall time and peak RSS, so one case's memory
never hides another's. Prints a Markdown table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import bz2
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

MIB = 1 << 20
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child would report its parent's peak.
CHILD = """
import json, sys, time
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
from modellock.gate.scanner import scan_file
base = hwm()
start, cpu = time.perf_counter(), time.process_time()
result = scan_file(sys.argv[1], sys.argv[2])
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
first = result.findings[0].message if result.findings else ""
print(json.dumps({"s": elapsed, "cpu": cpu, "rss": hwm(), "base": base, "verdict": result.verdict,
                  "format": result.format, "why": first}))
"""


def _zip(members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


def nested_zip(path: Path) -> None:
    """42.zip-style: every level holds 16 copies of the level below (the issue's 10 KB, 592 s file)."""
    level = _zip([("x.bin", b"\0" * MIB)], zipfile.ZIP_DEFLATED)
    for _ in range(4):
        level = _zip([(f"{i}.zip", level) for i in range(16)], zipfile.ZIP_DEFLATED)
    path.write_bytes(level)


def zip_of_bombs(path: Path, header: bytes = b"") -> None:
    """64 members that each inflate to 400 MiB (the issue's 26 MB, 115 s file)."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = squeeze.compress(header) if header else b""
    body += b"".join(squeeze.compress(b"\0" * (16 * MIB)) for _ in range(25)) + squeeze.flush()
    crc = 0
    if header:  # a real CRC, so every member is a numeric .npy the gate must read to its end
        crc = zlib.crc32(header)
        for _ in range(25):
            crc = zlib.crc32(b"\0" * (16 * MIB), crc)
    out = io.BytesIO()
    central = []
    for i in range(64):
        name = f"m{i}.npy".encode()
        offset = out.tell()
        size = 400 * MIB + len(header)
        out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(body), size, len(name), 0))
        out.write(name + body)
        central.append(
            struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(body), size,
                        len(name), 0, 0, 0, 0, 0, offset) + name
        )  # fmt: skip
    start = out.tell()
    out.write(b"".join(central))
    out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 64, 64, out.tell() - start, start, 0))
    path.write_bytes(out.getvalue())


def zip_of_numeric_bombs(path: Path) -> None:
    """The same, each member a valid .npy of 400 MiB of zeros: what np.savez_compressed writes for
    zero arrays, so it is scanned to the end rather than refused (cost bounded by MAX_EXPANDED)."""
    text = repr({"descr": "<f4", "fortran_order": False, "shape": (100 * MIB,)}).encode()
    text += b" " * ((64 - (10 + len(text) + 1) % 64) % 64) + b"\n"
    zip_of_bombs(path, b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text)


def sparse_with_magic(magic: bytes, size: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with open(path, "wb") as f:
            f.write(magic)
            f.truncate(size)

    return write


def tar_2gib(path: Path) -> None:
    header = bytearray(512)
    header[0:5] = b"a.bin"
    header[124:136] = b"%011o\0" % (2 * 1024 * MIB - 1024)
    header[156:157] = b"0"
    header[257:263] = b"ustar\0"
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(2 * 1024 * MIB)


def gguf_array(path: Path) -> None:
    count = 60_000_000
    with open(path, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 4) + b"big!")
        f.write(struct.pack("<IIQ", 9, 0, count))
        f.truncate(f.tell() + count)


def gguf_many_tensors(path: Path) -> None:
    """Just under the tensor cap: every tensor's name, dimensions, type and offset are read."""
    from modellock.gate.formats import MAX_GGUF_TENSORS

    count = MAX_GGUF_TENSORS - 1
    info = struct.pack("<Q", 1) + b"t" + struct.pack("<IQ", 1, 0) + struct.pack("<IQ", 0, 0)
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, count, 0) + info * count + b"\0" * 64)


def gguf_string_array(path: Path) -> None:
    """Just under the string-array cap: every string's length is read to find the next one."""
    from modellock.gate.formats import MAX_GGUF_STRINGS

    count = MAX_GGUF_STRINGS - 1
    kv = struct.pack("<Q", 3) + b"arr" + struct.pack("<IIQ", 9, 8, count) + struct.pack("<Q", 0) * count
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + kv)


def onnx_many_fields(path: Path) -> None:
    """Just under the field cap: a model message of one million tiny varint fields."""
    from modellock.gate.formats import MAX_ONNX_FIELDS

    path.write_bytes(b"\x08\x00" * (MAX_ONNX_FIELDS - 1))


def deep_safetensors(path: Path) -> None:
    header = b'{"__metadata__": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    path.write_bytes(struct.pack("<Q", len(header)) + header)


def opcode_cap_pickle(path: Path) -> None:
    """Just under the opcode cap, then 94 MB of bytes: the slowest walk a 100 MB pickle can force."""
    from modellock.gate.pickle_walk import MAX_OPCODES

    body = b"\x80\x02" + b"N0" * (MAX_OPCODES // 2 - 8)
    body += b"\x8e" + struct.pack("<Q", 100 * MIB - len(body) - 12) + b"\0" * (100 * MIB - len(body) - 12) + b"0N."
    path.write_bytes(body)


def memo_pickle(path: Path) -> None:
    from modellock.gate.pickle_walk import MAX_MEMO

    path.write_bytes(b"\x80\x02N" + b"\x94" * (MAX_MEMO - 8) + b".")


def torch_many_storages(path: Path) -> None:
    """A 100 MB torch zip of 20,000 storages (data.pkl with 20,000 tensors)."""
    try:
        import torch
    except ImportError:  # benchmark environments without torch: build the same layout by hand
        torch = None
    if torch is not None:
        torch.save({f"t{i}": torch.zeros(1250) for i in range(20_000)}, path)
        return
    raise SystemExit("torch_many_storages needs torch (use the corpus environment)")


def state_dict_100mb(path: Path) -> None:
    import torch

    torch.save({f"layer{i}.weight": torch.randn(256, 1024) for i in range(100)}, path)


def legacy_100mb(path: Path) -> None:
    import torch

    state = {f"layer{i}.weight": torch.randn(256, 1024) for i in range(100)}
    torch.save(state, path, _use_new_zipfile_serialization=False)


def safetensors_100mb(path: Path) -> None:
    header: dict[str, object] = {}
    offset = 0
    for i in range(60_000):
        header[f"model.layers.{i}.weight"] = {"dtype": "F32", "shape": [416], "data_offsets": [offset, offset + 1664]}
        offset += 1664
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        f.truncate(8 + len(text) + offset)


def npz_100mb(path: Path) -> None:
    import numpy as np

    np.savez_compressed(path, **{f"a{i}": np.random.rand(1024 * 128).astype("f8") for i in range(100)})


def joblib_100mb(path: Path) -> None:
    import joblib
    import numpy as np

    joblib.dump({f"a{i}": np.random.rand(1024 * 128) for i in range(100)}, path)


def many_members(path: Path) -> None:
    """A zip at the member cap, every member a tiny file that is scanned on its own."""
    from modellock.gate.zipread import MAX_MEMBERS

    with zipfile.ZipFile(path, "w") as archive:
        for i in range(MAX_MEMBERS):
            archive.writestr(f"f{i}.txt", b"hello")


def tar_200k(path: Path) -> None:
    """A tar of 200,000 small text files (issue #20: a tar real projects write must pass)."""
    import tarfile

    with tarfile.open(path, "w") as archive:
        for i in range(200_000):
            info = tarfile.TarInfo(f"d/{i}.txt")
            body = b"hello %d\n" % i
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))


def bz2_pickle(path: Path) -> None:
    path.write_bytes(bz2.compress(pickle.dumps(b"\0" * (200 * MIB))))


CASES: dict[str, tuple[str, Callable[[Path], None]]] = {
    "nested 42.zip-style zip (16^4 members)": ("nested.zip", nested_zip),
    "zip of 64 members x 400 MiB deflate": ("bombs.npz", zip_of_bombs),
    "npz of 64 numeric .npy members x 400 MiB of zeros": ("zeros.npz", zip_of_numeric_bombs),
    "2 GiB file, gzip magic": ("big.gz", sparse_with_magic(b"\x1f\x8b\x08\x00", 2 * 1024 * MIB)),
    "2 GiB file, bzip2 magic": ("big.bz2", sparse_with_magic(b"BZh9", 2 * 1024 * MIB)),
    "2 GiB tar, one 2 GiB member": ("big.tar", tar_2gib),
    "GGUF, 60M-element array": ("big.gguf", gguf_array),
    "safetensors header nested 100,000 deep": ("deep.safetensors", deep_safetensors),
    "GGUF just under the tensor cap (99,999 tensors)": ("tensors.gguf", gguf_many_tensors),
    "GGUF string array just under the cap (999,999 strings)": ("strings.gguf", gguf_string_array),
    "ONNX just under the field cap": ("fields.onnx", onnx_many_fields),
    "100 MB pickle at the opcode cap": ("opcodes.pkl", opcode_cap_pickle),
    "pickle at the memo cap": ("memo.pkl", memo_pickle),
    "bzip2 pickle expanding to 200 MiB": ("big.pkl.bz2", bz2_pickle),
    "zip at the member cap (40,000 tiny files)": ("members.zip", many_members),
    "tar of 200,000 tiny files": ("members.tar", tar_200k),
    "100 MB safetensors, 60,000 tensors": ("model.safetensors", safetensors_100mb),
    "100 MB torch zip state_dict": ("pytorch_model.bin", state_dict_100mb),
    "100 MB torch zip, 20,000 storages": ("many.bin", torch_many_storages),
    "100 MB legacy torch state_dict": ("legacy.bin", legacy_100mb),
    "100 MB npz (deflated)": ("arrays.npz", npz_100mb),
    "100 MB joblib of arrays": ("arrays.joblib", joblib_100mb),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--only", default="")
    parser.add_argument("--scan-python", default=sys.executable, help="interpreter that runs the scans")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="gate-worst-"))
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        "| case | file size | verdict (cap or reason) | wall | CPU | peak RSS (baseline) |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for label, (name, make) in CASES.items():
        if args.only and args.only not in label:
            continue
        path = root / name
        if not path.exists():
            try:
                make(path)
            except (ImportError, SystemExit) as exc:
                lines.append(f"| {label} | - | skipped: {exc} | - | - | - |")
                continue
        command = [args.scan_python, "-c", CHILD, str(path), name]
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        if run.returncode:
            lines.append(f"| {label} | - | crashed: {run.stderr.strip().splitlines()[-1][:80]} | - | - | - |")
            continue
        out = json.loads(run.stdout)
        why = out["why"].replace("|", "/")[:90]
        size = os.path.getsize(path) / MIB
        lines.append(
            f"| {label} | {size:,.1f} MiB | {out['verdict']} ({out['format']}{': ' + why if why else ''}) "
            f"| {out['s']:.2f} s | {out['cpu']:.2f} s | {out['rss']:.0f} MiB ({out['base']:.0f}) |"
        )
        sys.stdout.write(lines[-1] + "\n")
        sys.stdout.flush()
    sys.stdout.write("\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
