"""Torch checkpoints are read by their layout: storages are checked by size, never sniffed, and
anything a loader would read differently from what the pickle declares is refused."""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

from modellock.gate.scanner import scan_bytes
from tests import corpus

SAFE = Path(__file__).parent / "data" / "corpus" / "safe"


def _rewrite(data: bytes, change: dict[str, bytes | None], add: dict[str, bytes] | None = None) -> bytes:
    """The same zip with members replaced (None drops one) or added."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            new = change.get(info.filename, src.read(info))
            if new is not None:
                dst.writestr(info, new)
        for name, body in (add or {}).items():
            dst.writestr(name, body)
    return out.getvalue()


def findings(data: bytes, name: str = "pytorch_model.bin") -> str:
    result = scan_bytes(data, name)
    assert result.verdict in ("invalid", "malicious"), result
    return " | ".join(f.message for f in result.findings)


def test_storages_whose_bytes_look_like_anything_pass() -> None:
    data = (SAFE / "seeded_storages.pt").read_bytes()
    assert b"PK\x03\x04" in data and b"GGUF" in data and b"\x80\x02N." in data  # seeded, as the generator says
    assert scan_bytes(data, "seeded_storages.pt").verdict == "clean"


def test_a_storage_of_the_wrong_size_is_refused() -> None:
    data = (SAFE / "bert_fp32.bin").read_bytes()
    assert "declares" in findings(_rewrite(data, {"archive/data/0": b"\0" * 3}))


def test_missing_unreferenced_and_foreign_members_are_refused() -> None:
    data = (SAFE / "bert_fp32.bin").read_bytes()
    assert "not in the archive" in findings(_rewrite(data, {"archive/data/0": None}))
    hidden = corpus.call("os", "system")
    assert "never references" in findings(_rewrite(data, {}, {"archive/data/999": hidden}))
    assert "not part of a torch checkpoint" in findings(_rewrite(data, {}, {"archive/evil.pkl": hidden}))
    assert "unexpected content" in findings(_rewrite(data, {"archive/byteorder": b"sideways"}))


def test_legacy_layout_is_checked_to_the_last_byte() -> None:
    data = (SAFE / "gpt2_legacy.bin").read_bytes()
    assert scan_bytes(data, "gpt2_legacy.bin").verdict == "clean"
    assert "bytes after the last storage" in findings(data + b"\0" * 8)
    assert "not the size" in findings(data[:-4])
    # torch.load never reads past the storages, so a pickle there is never loaded: refused as extra bytes.
    assert "26 bytes after the last storage" in findings(data + corpus.call("os", "system"))


def _tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return out.getvalue()


def _tar_checkpoint(main: bytes) -> bytes:
    record = corpus.P2 + b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpu" + corpus.g("torch", "FloatStorage") + b"\x87."
    storages = pickle.dumps(1, protocol=2) + record + struct.pack("<Q", 2) + b"\0" * 8 + pickle.dumps([], protocol=2)
    tensor = corpus.P2 + b"X\x01\x00\x00\x000X\x01\x00\x00\x000" + corpus.g("torch", "FloatTensor") + b"\x87."
    tensors = pickle.dumps(1, protocol=2) + tensor + struct.pack("<ii", 1, 0) + struct.pack("<qqq", 2, 1, 0)
    return _tar({"sys_info": pickle.dumps({"little_endian": True}, protocol=2), "storages": storages,
                 "tensors": tensors, "pickle": main})  # fmt: skip


def test_tar_checkpoints_by_layout() -> None:
    benign = _tar_checkpoint(corpus.P2 + b"}X\x01\x00\x00\x00wX\x01\x00\x00\x000Qs.")
    assert scan_bytes(benign, "old.pt").format == "torch-tar"
    assert scan_bytes(benign, "old.pt").verdict == "clean", scan_bytes(benign, "old.pt")
    assert "os.system" in findings(_tar_checkpoint(corpus.call("os", "system")))


def test_joblib_arrays_are_skipped_by_size_and_old_layouts_refused() -> None:
    data = (SAFE / "arrays.joblib").read_bytes()
    assert scan_bytes(data, "a.joblib").verdict == "clean"
    # Without the alignment byte (joblib < 1.2) the array bytes could be read as opcodes: refused.
    old = data.replace(b"\x8c\x1bnumpy_array_alignment_bytes\x94K\x10", b"", 1)
    assert old != data and "joblib < 1.2" in findings(old, "a.joblib")
