"""The gate on files real libraries wrote (tests/data/make_corpus.py): every safe file passes,
every suspicious or malicious file is refused, each with the reason the manifest records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modellock.gate.allowlist import TORCH_WEIGHTS_ONLY, classify
from modellock.gate.enforce import decide
from modellock.gate.scanner import scan_file
from modellock.project.policy import Policy

ROOT = Path(__file__).parent / "data" / "corpus"
MANIFEST: dict[str, dict[str, str]] = json.loads((ROOT / "MANIFEST.json").read_text())
SCAN, ALLOW = Policy(pickle="scan"), Policy(pickle="allow")


def test_the_corpus_covers_what_the_issue_asks_for() -> None:
    kinds = [entry["expect"] for entry in MANIFEST.values()]
    assert kinds.count("safe") >= 60 and kinds.count("malicious") >= 15 and kinds.count("suspicious") >= 4
    names = " ".join(MANIFEST)
    for needed in ("bert", "gpt2", "llama", "t5", "_fp16", "_bf16", "legacy", "optimizer_sgd", "optimizer_adamax",
                   "rng_state", ".npz", ".npy", ".safetensors", ".gguf", "onnx_external", "fickling", "training_args",
                   "whole_module", "seeded_storages", "lightning"):  # fmt: skip
        assert needed in names, needed


@pytest.mark.parametrize("name", sorted(n for n, e in MANIFEST.items() if e["expect"] == "safe"))
def test_safe_files_pass(name: str) -> None:
    result = scan_file(ROOT / name, name)
    assert result.verdict in ("safe", "clean"), (result.format, result.findings)
    assert decide(name, result, SCAN, "m").allowed


@pytest.mark.parametrize("name", sorted(n for n, e in MANIFEST.items() if e["expect"] == "suspicious"))
def test_suspicious_files_are_refused_when_scanning_and_named(name: str) -> None:
    result = scan_file(ROOT / name, name)
    assert result.verdict == "suspicious", result.findings
    assert any(MANIFEST[name]["reason"] in f.message for f in result.findings), result.findings
    assert not decide(name, result, SCAN, "m").allowed
    assert decide(name, result, ALLOW, "m").allowed  # what `pickle = "allow"` is for: trusting such imports


@pytest.mark.parametrize("name", sorted(n for n, e in MANIFEST.items() if e["expect"] == "malicious"))
def test_malicious_files_are_refused_under_every_pickle_policy(name: str) -> None:
    result = scan_file(ROOT / name, name)
    assert result.verdict == "malicious", result.findings
    assert any(MANIFEST[name]["reason"] in f.message for f in result.findings), result.findings
    decision = decide(name, result, Policy(pickle="allow", remote_code="allow"), "m")
    assert not decision.allowed
    assert "allow-files" not in decision.change and 'pickle = "allow"' not in decision.change


def test_training_args_and_accelerate_state_are_named_training_state() -> None:
    result = scan_file(ROOT / "suspicious/training_args.bin", "training_args.bin")
    text = " ".join(f.message for f in result.findings)
    assert "transformers.training_args.TrainingArguments" in text and "training state, not weights" in text
    # The real file refers to accelerate's PartialState (the import issue #10 saw refused unnamed).
    assert b"PartialState" in (ROOT / "suspicious/training_args.bin").read_bytes()
    assert classify("accelerate.state", "PartialState") == (
        "suspicious",
        "training state, not weights (Trainer/Lightning/accelerate objects)",
    )


def test_allowlist_contains_torchs_weights_only_globals_exactly() -> None:
    theirs = {tuple(line.rsplit(".", 1)) for line in (ROOT / "torch_weights_only_globals.txt").read_text().split()}
    assert set(TORCH_WEIGHTS_ONLY) == theirs
