"""Mutated real files never make the scanner crash: every outcome is a verdict with reasons."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

from modellock.gate.scanner import scan_bytes

SAFE = Path(__file__).parent / "data" / "corpus" / "safe"
FORMATS = ["bert_fp16.bin", "gpt2_legacy.bin", "arrays_compressed.npz", "arrays_zlib.joblib", "tiny_quants.gguf",
           "all_dtypes.safetensors", "npy_struct.npy", "onnx_external/model.onnx", "rng_state.pth"]  # fmt: skip


def mutants(original: bytes, rng: random.Random, count: int = 60) -> Iterator[bytes]:
    """`count` copies of `original`, each with 1-3 bytes overwritten or short runs deleted."""
    for _ in range(count):
        data = bytearray(original)
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(data))
            if rng.random() < 0.7:
                data[at] = rng.randrange(256)
            else:
                del data[at : at + rng.randrange(1, 64)]
        yield bytes(data)


def test_mutations_of_every_format_end_in_a_verdict() -> None:
    rng = random.Random(10)
    verdicts: dict[str, int] = {}
    for name in FORMATS:
        for data in mutants((SAFE / name).read_bytes(), rng):
            result = scan_bytes(data, name)  # must not raise
            verdicts[result.verdict] = verdicts.get(result.verdict, 0) + 1
            assert result.verdict in ("safe", "clean") or result.findings
            assert result.format != "unparsed", result.findings  # every parser names its own failures
    assert verdicts.get("invalid", 0) > 100, verdicts  # the mutations are mostly caught, not ignored
