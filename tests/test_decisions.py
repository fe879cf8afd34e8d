"""Table-driven tests of the decision functions the end-to-end tests reach only a few rows of: the
gate's policy decision (`gate.enforce.decide`), shard coverage (`signing.oms._shard_gap`), signature
coverage and comparison (`signing.oms.compare`), and the manifest against the lock
(`ops.check.manifest_differences`, fields other than the signature, which tests/test_guards_lock.py has).
Each row fails when its branch is deleted."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from modellock.gate.enforce import MALICIOUS_CHANGE, decide
from modellock.gate.verdict import Finding, ScanResult
from modellock.ops.check import manifest_differences
from modellock.project.lockfile import LockedFile, LockedModel
from modellock.project.manifest import ModelSpec
from modellock.project.policy import Policy
from modellock.signing.oms import Resource, SignatureInvalid, SignedManifest, _shard_gap, compare

# --- the gate: (file, scan, policy) -> allowed, and the change that would allow it ---

SAFE = ScanResult("safetensors", "data")
CLEAN_PICKLE = ScanResult("pickle", "pickle")
SUSPICIOUS_PICKLE = ScanResult("pickle", "pickle", (Finding("suspicious", "imports foo.bar"),))
MALICIOUS_PICKLE = ScanResult("pickle", "pickle", (Finding("malicious", "imports os.system"),))
CODE = ScanResult("python", "code")
INVALID = ScanResult("safetensors", "data", (Finding("invalid", "header length past the end"),))
SUSPICIOUS_DATA = ScanResult("gguf", "data", (Finding("suspicious", "a chat template runs code"),))

DENY = Policy()
SCAN = Policy(pickle="scan")
ALLOW = Policy(pickle="allow", remote_code="allow")


@pytest.mark.parametrize(
    ("path", "result", "policy", "allowed", "reason", "change"),
    [
        ("model.safetensors", SAFE, DENY, True, "", ""),
        ("model.safetensors", INVALID, ALLOW, False, "invalid: header length", "allow-files"),
        ("model.gguf", SUSPICIOUS_DATA, ALLOW, False, "suspicious: a chat template", "allow-files"),
        ("model.bin", CLEAN_PICKLE, DENY, False, "pickle is denied", 'pickle = "scan"'),
        ("model.bin", CLEAN_PICKLE, SCAN, True, "", ""),
        ("model.bin", SUSPICIOUS_PICKLE, SCAN, False, "suspicious: imports foo.bar", 'pickle = "allow"'),
        ("model.bin", SUSPICIOUS_PICKLE, ALLOW, True, "", ""),
        ("model.bin", SUSPICIOUS_PICKLE, DENY, False, "pickle is denied", 'pickle = "scan"'),
        # A known payload is refused under every policy and offered no setting, only another file.
        ("model.bin", MALICIOUS_PICKLE, ALLOW, False, "malicious: imports os.system", MALICIOUS_CHANGE),
        ("model.bin", MALICIOUS_PICKLE, SCAN, False, "malicious", MALICIOUS_CHANGE),
        ("modeling.py", CODE, DENY, False, "remote-code is denied", 'remote-code = "allow"'),
        ("modeling.py", CODE, ALLOW, True, "", ""),
        # Reviewed files win over everything, the scanner's verdict included (the escape hatch for reviewed files).
        ("model.bin", MALICIOUS_PICKLE, Policy(allow_files=("*.bin",)), True, "", ""),
        ("modeling.py", CODE, Policy(allow_files=("modeling.py",)), True, "", ""),
        ("sub/modeling.py", CODE, Policy(allow_files=("other.py",)), False, "remote-code", 'remote-code = "allow"'),
    ],
)
def test_gate_decision(
    path: str, result: ScanResult, policy: Policy, allowed: bool, reason: str, change: str
) -> None:
    decision = decide(path, result, policy, "m")
    assert decision.allowed is allowed
    assert reason in decision.reason and (not reason) == (not decision.reason)
    assert change in decision.change and (not change) == (not decision.change)
    if "allow-files" in change:
        assert f'[models.m] allow-files = ["{path}"]' in decision.change


# --- shard coverage: one file's signed resources cover it exactly once ---


def _shards(*ranges: tuple[int, int]) -> list[Resource]:
    return [Resource("w.bin", "sha256", "x", start, end) for start, end in ranges]


WHOLE = Resource("w.bin", "sha256", "x")


@pytest.mark.parametrize(
    ("signed", "size", "shard_size", "problem"),
    [
        ([WHOLE], 10, None, None),
        ([WHOLE, WHOLE], 10, None, "signed more than once"),
        ([WHOLE, *_shards((0, 10))], 10, None, "signed both whole and in shards"),
        (_shards((0, 4), (4, 10)), 10, None, None),
        (_shards((4, 10), (0, 4)), 10, None, None),  # order in the statement does not matter
        (_shards((0, 4), (5, 10)), 10, None, "leave a gap at byte 4"),
        (_shards((0, 5), (4, 10)), 10, None, "leave an overlap at byte 5"),
        (_shards((1, 10)), 10, None, "leave a gap at byte 0"),
        (_shards((0, 4), (4, 4), (4, 10)), 10, None, "an overlap at byte 4"),  # an empty shard
        (_shards((0, 4)), 10, None, "end at byte 4, the file has 10 bytes"),
        (_shards((0, 4), (4, 12)), 10, None, "end at byte 12, the file has 10 bytes"),
        (_shards((0, 4), (4, 8), (8, 10)), 10, 4, None),
        (_shards((0, 3), (3, 7), (7, 10)), 10, 4, "not the 4-byte shards the statement declares"),
        (_shards((0, 10)), 10, 4, "not the 4-byte shards"),
    ],
)
def test_shard_coverage(signed: list[Resource], size: int, shard_size: int | None, problem: str | None) -> None:
    found = _shard_gap(signed, size, shard_size)
    assert (found is None) if problem is None else (found is not None and problem in found), found


# --- signature coverage and comparison: the locked files against the statement ---

A, B = "a" * 64, "b" * 64
LOCKED = {
    "config.json": {"sha256": A, "size": "2"},
    "model.safetensors": {"sha256": B, "size": "10"},
}


def _manifest(*resources: Resource, ignore: tuple[str, ...] = (), method: str = "files") -> SignedManifest:
    return SignedManifest(tuple(resources), ignore, method)


FILES_OK = (Resource("config.json", "sha256", A), Resource("model.safetensors", "sha256", B))


def _digest_of(path: str, algorithm: str, start: int | None, end: int | None) -> str:
    """Digests the lock does not hold: computed `from the bytes` (here: a function of the request)."""
    return f"{algorithm}:{path}:{start}:{end}"


@pytest.mark.parametrize(
    ("manifest", "selected", "repo", "problem", "covered", "not_installed", "empty"),
    [
        (_manifest(*FILES_OK), LOCKED, None, None, 2, (), ()),
        (_manifest(*FILES_OK), LOCKED, ["config.json", "model.safetensors", "model.sig"], None, 2, (), ()),
        (_manifest(FILES_OK[0], Resource("model.safetensors", "sha256", A)), LOCKED, None,
         "model.safetensors: sha256 digest differs", 0, (), ()),
        (_manifest(FILES_OK[0]), LOCKED, None, "model.safetensors is locked but the signature does not cover it",
         0, (), ()),
        # A file the lock selects can be left out of a signature only by the signer's own ignore_paths.
        (_manifest(FILES_OK[0], ignore=("model.safetensors",)), LOCKED, None, None, 1, (), ()),
        # Signed files the manifest does not select are reported, not refused.
        (_manifest(*FILES_OK, Resource("extra.bin", "sha256", A)), LOCKED, None, None, 3, ("extra.bin",), ()),
        (_manifest(*FILES_OK), LOCKED, ["config.json", "model.safetensors", "new.py"],
         "new.py is in the repository but not covered", 0, (), ()),
        (_manifest(*FILES_OK), LOCKED, ["config.json"], "model.safetensors is signed but not in the repository",
         0, (), ()),
        # Digests the lock lacks are computed from the locked bytes.
        (_manifest(FILES_OK[0], Resource("model.safetensors", "blake2b", "blake2b:model.safetensors:None:None")),
         LOCKED, None, None, 2, (), ()),
        (_manifest(FILES_OK[0], Resource("model.safetensors", "blake2b", "c" * 64)), LOCKED, None,
         "blake2b digest differs", 0, (), ()),
        # Shard mode cannot name an empty file (OMS 6.3.2): the lock's digests vouch for it, reported.
        (_manifest(Resource("model.safetensors", "sha256", "sha256:model.safetensors:0:10", 0, 10), method="shards"),
         {**LOCKED, "config.json": {"sha256": A, "size": "0"}}, None, None, 1, (), ("config.json",)),
        (_manifest(Resource("model.safetensors", "sha256", "sha256:model.safetensors:0:10", 0, 10)),
         {**LOCKED, "config.json": {"sha256": A, "size": "0"}}, None, "config.json is locked but", 0, (), ()),
        (_manifest(FILES_OK[0], Resource("model.safetensors", "sha256", "sha256:model.safetensors:0:6", 0, 6),
                   method="shards"), LOCKED, None, "end at byte 6, the file has 10 bytes", 0, (), ()),
    ],
)  # fmt: skip
def test_signature_comparison(
    manifest: SignedManifest,
    selected: dict[str, dict[str, str]],
    repo: list[str] | None,
    problem: str | None,
    covered: int,
    not_installed: tuple[str, ...],
    empty: tuple[str, ...],
) -> None:
    def run() -> object:
        return compare(
            manifest, selected=selected, signature_path="model.sig", repo_paths=repo, digest_of=_digest_of, where="m"
        )

    if problem is not None:
        with pytest.raises(SignatureInvalid, match="the signature does not match the files") as caught:
            run()
        assert problem in caught.value.message
        return
    coverage = run()
    assert (coverage.covered, coverage.signed_not_installed, coverage.unsigned_empty) == (  # type: ignore[attr-defined]
        covered, not_installed, empty,
    )  # fmt: skip


# --- the manifest against the lock: every field that locates or selects what is installed ---

FILE = LockedFile("config.json", 2, "1" * 64, "2" * 64)
LOCKED_MODEL = LockedModel(
    name="m", source="huggingface", repo="acme/m", repo_type="model", install_path="models/m",
    requested="main", commit="a" * 40, fingerprint="blake3:" + "0" * 64, files=(FILE,),
)  # fmt: skip
SPEC = ModelSpec(name="m", repo="acme/m", install_path="models/m")


def _flagged(hub_scan: str) -> LockedModel:
    return replace(LOCKED_MODEL, files=(replace(FILE, hub_scan=hub_scan),))


@pytest.mark.parametrize(
    ("model", "spec", "problems"),
    [
        (LOCKED_MODEL, SPEC, []),
        (LOCKED_MODEL, replace(SPEC, source="s3"), ["`source` is 'huggingface' in the lock but 's3'"]),
        (LOCKED_MODEL, replace(SPEC, repo="acme/other"), ["`repo` is 'acme/m' in the lock but 'acme/other'"]),
        (LOCKED_MODEL, replace(SPEC, repo_type="dataset"), ["`repo-type` is 'model' in the lock but 'dataset'"]),
        (LOCKED_MODEL, replace(SPEC, install_path="elsewhere"), ["`path` is 'models/m' in the lock but 'elsewhere'"]),
        (LOCKED_MODEL, replace(SPEC, layout="hf-cache"), ["`layout` is 'dir' in the lock but 'hf-cache'"]),
        (LOCKED_MODEL, replace(SPEC, revision="v2"), ["`requested` is 'main' in the lock but 'v2'"]),
        (LOCKED_MODEL, replace(SPEC, policy=Policy(pickle="scan")), ["`policy` is"]),
        (LOCKED_MODEL, replace(SPEC, policy=Policy(allow_files=("x.bin",))), ["`policy` is"]),
        (LOCKED_MODEL, replace(SPEC, require_signature=True),
         ["the manifest requires a signature and the lock records none"]),
        (LOCKED_MODEL, replace(SPEC, repo="acme/other", revision="v2"), ["`repo` is", "`requested` is"]),
        # A Hub flag the manifest does not accept: `lock` refuses such files, so it did not write this lock.
        (_flagged("unsafe"), SPEC, ["config.json: the lock records a Hub scan flag (`unsafe`)"]),
        (_flagged("safe pickle-import=suspicious"), SPEC, ["Hub scan flag"]),
        (_flagged("unsafe"), replace(SPEC, hub_scan_allow=("config.json",)), []),
        (_flagged("safe av=safe"), SPEC, []),
    ],
)  # fmt: skip
def test_manifest_against_lock(tmp_path: Path, model: LockedModel, spec: ModelSpec, problems: list[str]) -> None:
    found = manifest_differences(model, spec, tmp_path)
    assert len(found) == len(problems), found
    for text, expected in zip(found, problems, strict=True):
        assert expected in text, found
