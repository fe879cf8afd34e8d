"""The scanner against hand-written hostile files, real benign checkpoints, and the CLI's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modellock.gate.enforce import decide
from modellock.gate.pickle_walk import PickleInvalid, walk
from modellock.gate.scanner import scan_bytes, scan_file
from modellock.project.policy import Policy
from tests import corpus
from tests.helpers import cli

SCAN = Policy(pickle="scan")
HOSTILE = corpus.hostile()
BENIGN = corpus.benign()
REAL = sorted((Path(__file__).parent / "data" / "torch").glob("*.*[!d]"))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_files_are_refused(name: str) -> None:
    result = scan_bytes(HOSTILE[name], name)
    decision = decide(name, result, SCAN, "m")
    assert not decision.allowed, (result.format, result.kind, result.findings)
    # Even `pickle = "allow"` and `remote-code = "allow"` never let known payloads or broken files through.
    if result.verdict in ("malicious", "invalid"):
        assert not decide(name, result, Policy(pickle="allow", remote_code="allow"), "m").allowed or (
            result.kind == "code"
        )


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_benign_files_pass(name: str) -> None:
    result = scan_bytes(BENIGN[name], name)
    assert decide(name, result, SCAN, "m").allowed, (result.format, result.findings)


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_real_torch_and_numpy_checkpoints(path: Path) -> None:
    result = scan_file(path, path.name)
    if path.name == "scripted.pt":
        assert (result.format, result.kind) == ("torchscript", "code")
        assert not decide(path.name, result, SCAN, "m").allowed
    else:
        assert result.verdict in ("clean", "safe"), result.findings
        assert decide(path.name, result, SCAN, "m").allowed


def test_formats_are_recognised_by_content() -> None:
    assert scan_bytes(HOSTILE["pickle_named_safetensors.safetensors"], "x.safetensors").format == "pickle"
    assert scan_bytes(HOSTILE["torch_zip.pt"], "x.bin").format == "torch-zip"
    assert scan_bytes(corpus.torch_zip(corpus.BENIGN_STATE), "weights.safetensors").format == "torch-zip"
    assert scan_bytes(HOSTILE["legacy_torch.bin"], "x.ckpt").format == "torch-legacy"
    assert scan_bytes(HOSTILE["joblib_gzip.joblib"], "x.joblib").format == "gzip+pickle"
    assert scan_bytes(b"not weights at all", "model.safetensors").verdict == "invalid"


def test_findings_name_the_import_and_grade_it() -> None:
    result = scan_bytes(HOSTILE["stack_global_memo.pkl"], "x.pkl")
    assert result.verdict == "malicious"
    assert any("posix.system" in f.message or "os.system" in f.message for f in result.findings)
    unknown = scan_bytes(corpus.call("sklearn.linear_model", "LogisticRegression"), "x.pkl")
    assert unknown.verdict == "suspicious"
    assert decide("x.pkl", unknown, Policy(pickle="allow"), "m").allowed  # allow trusts unknown classes
    assert not decide("x.pkl", unknown, SCAN, "m").allowed


def test_policy_deny_scan_allow() -> None:
    clean = scan_bytes(corpus.BENIGN_STATE, "state.pkl")
    assert clean.verdict == "clean"
    denied = decide("state.pkl", clean, Policy(), "m")
    assert not denied.allowed and 'pickle = "scan"' in denied.change
    assert decide("state.pkl", clean, SCAN, "m").allowed
    code = scan_bytes(HOSTILE["modeling_evil.py"], "modeling_evil.py")
    assert not decide("modeling_evil.py", code, SCAN, "m").allowed
    assert decide("modeling_evil.py", code, Policy(remote_code="allow"), "m").allowed
    assert decide("modeling_evil.py", code, Policy(allow_files=("modeling_*.py",)), "m").allowed


def test_walk_matches_cpython_on_real_pickles() -> None:
    import collections
    import pickle

    value = {"a": [1, 2.5, "x", b"y", (1, 2), {3}, frozenset({4}), None, True, 10**30], "o": collections.OrderedDict()}
    for protocol in range(6):
        data = pickle.dumps(value, protocol=protocol)
        assert walk(data).end == len(data)


def test_walk_fails_closed() -> None:
    for bad in (b"I0x1\n.", b"\x80\x02K\x01K\x02.", b"\x80\x02(.", b"\x80\x06K\x01.", b"\x80\x02h\x00."):
        with pytest.raises(PickleInvalid):
            walk(bad)


def test_scan_cli_text_json_sarif(tmp_path: Path) -> None:
    (tmp_path / "ok.safetensors").write_bytes(BENIGN["model.safetensors"])
    (tmp_path / "evil.bin").write_bytes(HOSTILE["torch_zip.pt"])
    run = cli("scan", str(tmp_path))
    assert run.exit_code == 1
    assert "REFUSED" in run.stdout and "evil.bin" in run.stdout
    assert "malicious: archive/data.pkl: imports os.system" in run.stdout
    assert "Scanned 2 files: 1 refused" in run.stdout
    data = json.loads(cli("scan", "--format", "json", str(tmp_path)).stdout)
    assert data["refused"] == 1
    sarif = json.loads(cli("scan", "--format", "sarif", str(tmp_path)).stdout)
    assert sarif["version"] == "2.1.0"
    (result,) = sarif["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("evil.bin")
    ok = cli("scan", str(tmp_path / "ok.safetensors"))
    assert ok.exit_code == 0
    assert cli("scan", str(tmp_path / "missing")).exit_code == 2


def test_whole_model_saves_are_suspicious_and_numpy_protocol5_pickles_clean() -> None:
    # `torch.save(model)` rebuilds program objects: refused under "scan", named as what it is.
    full_model = corpus.P2 + corpus.g("torch.nn.modules.container", "Sequential") + b")\x81}b."
    result = scan_bytes(full_model, "model.pt")
    assert result.verdict == "suspicious" and "whole-object save" in result.findings[0].message
    frombuffer = corpus.P4 + corpus.bu("numpy._core.numeric") + corpus.bu("_frombuffer") + b"\x93)R."
    assert scan_bytes(frombuffer, "a.pkl").verdict == "clean"
    function = corpus.P2 + corpus.g("torch.nn.functional", "relu") + b")R."
    assert scan_bytes(function, "f.pkl").verdict == "suspicious"  # functions are never allowed by pattern


def test_gguf_templates_real_and_hostile() -> None:
    llama3 = "{% set ns = namespace(found=false) %}{% for m in messages %}{{ m['content'] | trim }}{% endfor %}"
    assert scan_bytes(corpus.gguf([("tokenizer.chat_template", llama3)]), "m.gguf").verdict == "safe"
    hostile = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"
    assert scan_bytes(corpus.gguf([("tokenizer.chat_template", hostile)]), "m.gguf").verdict == "malicious"


def test_keras2_lambda_in_h5() -> None:
    config = {
        "class_name": "Sequential",
        "config": {
            "layers": [
                {
                    "class_name": "Lambda",
                    "config": {"function": ["4wEAAAAAAAAA", None, None], "function_type": "lambda"},
                }
            ]
        },
    }
    h5 = b"\x89HDF\r\n\x1a\n" + b"\0" * 32 + json.dumps(config).encode() + b"\0" * 8
    assert scan_bytes(h5, "model.h5").verdict == "malicious"
