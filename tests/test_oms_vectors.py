"""OpenSSF Model Signing v1.0 conformance: every test vector of ossf/model-signing-spec gives its verdict.

Valid vectors are verified cryptographically and against the model files they sign (from
sigstore/model-transparency, see tests/data/oms-vectors/README.md); the Sigstore one against the
production trusted root shipped inside sigstore-python, offline. Invalid ones are refused with
their reason. The OMS JSON schemas judge the same vectors, so schema and verifier cannot drift apart.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from modellock.signing.bundle import Signer, verify_bundle
from modellock.signing.dirverify import verify_directory
from modellock.signing.oms import SignatureInvalid
from modellock.signing.trust import shipped_root

DATA = Path(__file__).parent / "data" / "oms-vectors"
VECTORS = DATA / "v1.0"
KEYS = DATA / "keys"


def _signer(mode: str) -> Signer:
    if mode == "key":
        return Signer("key", public_key=(KEYS / "signing-key-pub.pem").read_bytes())
    if mode == "certificate":
        return Signer("certificate", roots=(KEYS / "ca-cert.pem").read_bytes())
    return Signer("sigstore")


VALID = [
    # vector, method, the identity and issuer verification yields; MODEL_OF names the files each signs
    ("key.bundle.json", "key", "sha256:c1e49d63327f85c7e2971aefd30b5a0d1c6b9b5e1a892e7f5fba995adace816d", ""),
    ("certificate.bundle.json", "certificate", "CN=intermediate-ca", "CN=root-ca"),
    ("sigstore.bundle.json", "sigstore", "stefanb@us.ibm.com", "https://sigstore.verify.ibm.com/oauth2"),
]


MODEL_OF = {"key": "v1.1.0-elliptic-key", "certificate": "v1.1.0-elliptic-key", "sigstore": "v1.1.0-sigstore"}


@pytest.mark.parametrize(("vector", "mode", "identity", "issuer"), VALID)
def test_valid_vectors_verify_against_the_model_they_sign(
    vector: str, mode: str, identity: str, issuer: str, tmp_path: Path
) -> None:
    raw = (VECTORS / "valid" / vector).read_bytes()
    trust = shipped_root() if mode == "sigstore" else None
    model = DATA / "model" / MODEL_OF[mode]
    attestation, coverage = verify_directory(raw, _signer(mode), trust, model)
    assert (attestation.mode, attestation.identity, attestation.issuer) == (mode, identity, issuer)
    assert coverage.covered == 2  # signme-1 and signme-2; ignore-me is in the vector's ignore_paths

    # The same vector over a model with one byte changed, or an unsigned file added, is refused.
    changed = tmp_path / "changed"
    changed.mkdir()
    for f in model.iterdir():
        (changed / f.name).write_bytes(f.read_bytes())
    (changed / "signme-2").write_bytes(b"X" + (changed / "signme-2").read_bytes()[1:])
    with pytest.raises(SignatureInvalid, match="signme-2: sha256 digest differs from the signed one"):
        verify_directory(raw, _signer(mode), trust, changed)
    (changed / "signme-2").write_bytes((model / "signme-2").read_bytes())
    (changed / "extra").write_bytes(b"planted")
    with pytest.raises(SignatureInvalid, match="extra is locked but the signature does not cover it"):
        verify_directory(raw, _signer(mode), trust, changed)


INVALID = [
    ("invalid/empty.bundle.json", "the signature file is empty"),
    ("invalid/missing-envelope.bundle.json", "the bundle has no DSSE envelope"),
    ("invalid/missing-tlog-entries.bundle.json", "must carry at least one transparency-log entry"),
    ("invalid/missing-verification-material.bundle.json", "the bundle has no verification material"),
    ("invalid-payload/wrong-predicate.bundle.json", "predicate type is 'https://example.com/wrong-predicate/v1.0'"),
]


@pytest.mark.parametrize(("vector", "reason"), INVALID)
@pytest.mark.parametrize("mode", ["key", "certificate", "sigstore"])
def test_invalid_vectors_are_refused_with_their_reason(vector: str, reason: str, mode: str) -> None:
    """Whatever signer the verifier expects, the bundle's own defect is the reason given."""
    raw = (VECTORS / vector).read_bytes()
    with pytest.raises(SignatureInvalid, match=re.escape(reason)):
        verify_bundle(raw, _signer(mode), shipped_root() if mode == "sigstore" else None, "vector")


def test_every_vector_is_in_a_table() -> None:
    on_disk = {str(p.relative_to(VECTORS)) for p in VECTORS.rglob("*.json")}
    assert on_disk == {f"valid/{v[0]}" for v in VALID} | {v[0] for v in INVALID}


@pytest.mark.parametrize(
    ("vector", "mode"),
    [(v[0], m) for v in VALID for m in ("key", "certificate", "sigstore") if m != v[1]],
)
def test_material_must_match_the_method(vector: str, mode: str) -> None:
    """OMS §11.1: the verification material must be that of the method (the certificate vector's leaf
    holds the very key of the key vector, so without this check it passed as a key-mode signature)."""
    raw = (VECTORS / "valid" / vector).read_bytes()
    with pytest.raises(SignatureInvalid, match=f"but it is verified as a {mode}-mode signature"):
        verify_bundle(raw, _signer(mode), shipped_root() if mode == "sigstore" else None, "vector")


def schema_verdict(raw: bytes) -> bool:
    """What the OMS schemas say of a bundle (bundle → envelope, then the decoded statement → predicate)."""
    import base64

    import jsonschema_rs

    schemas = {p.name: json.loads(p.read_text()) for p in (DATA / "schemas" / "v1.0").glob("*.json")}
    registry = jsonschema_rs.Registry([(s["$id"], s) for s in schemas.values()])
    try:
        bundle = json.loads(raw)
    except ValueError:
        return False
    if not jsonschema_rs.validator_for(schemas["bundle.schema.json"], registry=registry).is_valid(bundle):
        return False
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    return bool(jsonschema_rs.validator_for(schemas["statement.schema.json"], registry=registry).is_valid(statement))


@pytest.mark.parametrize("vector", sorted(str(p.relative_to(VECTORS)) for p in VECTORS.rglob("*.json")))
def test_the_schemas_agree_with_the_verifier(vector: str) -> None:
    assert schema_verdict((VECTORS / vector).read_bytes()) is vector.startswith("valid/")


HISTORICAL = DATA / "historical"


@pytest.mark.parametrize("version", sorted(p.name for p in HISTORICAL.iterdir()))
def test_historical_bundles_verify(version: str) -> None:
    """model_signing 0.3.1 to 1.0.1 bundles (OMS §11): no ignore_paths recorded, keyid null. The verifier names its
    own exclusions, as the reference scripts do (`--ignore-paths ignore-me`)."""
    model = HISTORICAL / version
    mode = version.split("-", 1)[1].replace("elliptic-key", "key")
    trust = shipped_root() if mode == "sigstore" else None
    ignores = ("ignore-me",) if (model / "ignore-me").exists() else ()
    attestation, coverage = verify_directory((model / "model.sig").read_bytes(), _signer(mode), trust, model,
                                             ignore_paths=ignores)  # fmt: skip
    assert attestation.mode == mode and coverage.covered == 2
