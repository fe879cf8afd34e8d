"""The signing checks no other test guarded: each table fails when its check is deleted (mutation-tested).

Pure decisions (`verify_bundle` in key and certificate mode, `parse_statement`, `compare`, `ignored`)
are tested on bundles made here with real keys; the root recorded at `lock` is tested end to end.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from modellock.signing.bundle import Signer, verify_bundle
from modellock.signing.oms import SignatureInvalid, SignedManifest, compare, ignored, parse_statement
from modellock.signing.trust import load_trust_root
from tests import sigstore_fake
from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.samples import weights
from tests.sigstore_fake import PAYLOAD_TYPE, FakeSigstore, b64, pae, sign_with_key, statement

FILES = {"config.json": b'{"model_type": "bert"}\n', "model.safetensors": weights(b"\x05" * 256)}
PAYLOAD = statement(FILES)


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    public = key.public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _resign(bundle: dict[str, Any], signature: bytes) -> bytes:
    bundle = json.loads(json.dumps(bundle))
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = b64(signature)
    return json.dumps(bundle).encode()


def _with_payload(bundle: dict[str, Any], payload: bytes) -> bytes:
    bundle = json.loads(json.dumps(bundle))
    bundle["dsseEnvelope"]["payload"] = b64(payload)
    return json.dumps(bundle).encode()


# -- key mode: the ECDSA signature, not only the key hint -----------------------------------------------------

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())
GOOD = sign_with_key(PAYLOAD, KEY)
BY_OTHER = OTHER.sign(pae(PAYLOAD_TYPE, PAYLOAD), ec.ECDSA(hashes.SHA256()))
KEY_CASES: list[tuple[str, bytes, str | None]] = [
    ("valid", json.dumps(GOOD).encode(), None),
    # The right key hint, a signature by another key: the hint alone must prove nothing.
    ("another key's signature", _resign(GOOD, BY_OTHER), "invalid for this key"),
    ("signature over other bytes", _resign(GOOD, KEY.sign(b"else", ec.ECDSA(hashes.SHA256()))), "invalid for this key"),
    ("statement swapped under the signature", _with_payload(GOOD, statement({"x": b"y"})), "invalid for this key"),
    ("signature bytes garbage", _resign(GOOD, b"\x30\x06\x02\x01\x01\x02\x01\x01"), "invalid for this key"),
    ("hint of another key", json.dumps(sign_with_key(PAYLOAD, OTHER)).encode(), "key hint differs"),
    ("a bundle nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000, "the bundle is JSON nested deeper than 64"),
    ("a statement nested 100,000 deep", _with_payload(GOOD, b"[" * 100_000), "invalid for this key"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "raw", "refusal"), KEY_CASES, ids=[c[0] for c in KEY_CASES])
def test_key_mode_verifies_the_ecdsa_signature(case: str, raw: bytes, refusal: str | None) -> None:
    signer = Signer("key", public_key=_pem(KEY))
    if refusal is None:
        attestation = verify_bundle(raw, signer, None, "m: model.sig")
        assert attestation.payload == PAYLOAD and attestation.key.startswith("sha256:")
        return
    with pytest.raises(SignatureInvalid) as caught:
        verify_bundle(raw, signer, None, "m: model.sig")
    assert refusal in caught.value.message and caught.value.exit_code == 1


# -- certificate mode: the chain, then the leaf's ECDSA signature ---------------------------------------------


def _root(key: ec.EllipticCurvePrivateKey, serial: int = 1) -> x509.Certificate:
    now = datetime.now(timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vendor root")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - timedelta(days=serial))  # another serial, another validity: another fingerprint
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _leaf(root_key: ec.EllipticCurvePrivateKey, leaf_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = datetime.now(timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "release signer")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vendor root")]))
        .public_key(leaf_key.public_key())
        .serial_number(7)
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )


def certificate_bundle(payload: bytes, root_key: ec.EllipticCurvePrivateKey, signing_key: Any = None) -> bytes:
    """A leaf issued by `root_key`; the envelope signed by `signing_key` (default: the leaf's)."""
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _leaf(root_key, leaf_key)
    signature = (signing_key or leaf_key).sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "x509CertificateChain": {"certificates": [{"rawBytes": b64(leaf.public_bytes(_DER))}]},
            "tlogEntries": [],
        },
        "dsseEnvelope": {"payload": b64(payload), "payloadType": PAYLOAD_TYPE, "signatures": [{"sig": b64(signature)}]},
    }
    return json.dumps(bundle).encode()


_DER = serialization.Encoding.DER
ROOT_KEY = ec.generate_private_key(ec.SECP256R1())
ROOT_PEM = _root(ROOT_KEY).public_bytes(serialization.Encoding.PEM)
CERT_CASES: list[tuple[str, bytes, str | None]] = [
    ("valid", certificate_bundle(PAYLOAD, ROOT_KEY), None),
    ("envelope signed by another key", certificate_bundle(PAYLOAD, ROOT_KEY, OTHER), "invalid for this key"),
    ("a leaf of another root", certificate_bundle(PAYLOAD, OTHER), "does not lead to a configured root"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "raw", "refusal"), CERT_CASES, ids=[c[0] for c in CERT_CASES])
def test_certificate_mode_verifies_the_ecdsa_signature(case: str, raw: bytes, refusal: str | None) -> None:
    signer = Signer("certificate", roots=ROOT_PEM)
    if refusal is None:
        attestation = verify_bundle(raw, signer, None, "m: model.sig")
        assert attestation.identity == "CN=release signer" and attestation.payload == PAYLOAD
        return
    with pytest.raises(SignatureInvalid) as caught:
        verify_bundle(raw, signer, None, "m: model.sig")
    assert refusal in caught.value.message


# -- Sigstore: a certificate naming several identities --------------------------------------------------------


def _sigstore_bundle(sigstore: FakeSigstore, extra: list[x509.GeneralName], monkeypatch: pytest.MonkeyPatch) -> bytes:
    real = x509.SubjectAlternativeName
    with monkeypatch.context() as patch:
        # Only while the fake Fulcio issues the certificate: a SAN with more names than the one asked for.
        patch.setattr(sigstore_fake.x509, "SubjectAlternativeName", lambda names: real([*names, *extra]))
        bundle = sigstore.sign_dsse(PAYLOAD, "release@acme.example", "https://issuer.example")
    return json.dumps(bundle).encode()


@pytest.mark.parametrize(
    ("extra", "refusal"),
    [
        ([], None),
        ([x509.RFC822Name("someone@else.example")], "names 2 identities, expected one"),
        ([x509.UniformResourceIdentifier("https://else.example/x")], "names 2 identities, expected one"),
    ],
)
def test_a_sigstore_certificate_must_name_exactly_one_identity(
    sigstore: FakeSigstore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    extra: list[x509.GeneralName],
    refusal: str | None,
) -> None:
    raw = _sigstore_bundle(sigstore, extra, monkeypatch)
    (tmp_path / "root.json").write_text(json.dumps(sigstore.trusted_root()))
    trust, _ = load_trust_root(tmp_path / "root.json", online=False)
    # Pinned to the first identity: a certificate that also names another must not pass as either.
    signer = Signer("sigstore", identity="release@acme.example", issuer="https://issuer.example")
    if refusal is None:
        assert verify_bundle(raw, signer, trust, "m: model.sig").identity == "release@acme.example"
        return
    with pytest.raises(SignatureInvalid) as caught:
        verify_bundle(raw, signer, trust, "m: model.sig")
    assert refusal in caught.value.message


# -- the statement: subject digest ----------------------------------------------------------------------------


def _statement_with(change: Callable[[dict[str, Any]], None]) -> bytes:
    data = json.loads(PAYLOAD)
    change(data)
    return json.dumps(data).encode()


def _subject(value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["subject"][0]["digest"]["sha256"] = value

    return change


def _resource_digest(data: dict[str, Any]) -> None:
    # A resource changed without recomputing the subject: what the signature signed is not this list.
    data["predicate"]["resources"][0]["digest"] = "00" * 32


@pytest.mark.parametrize(
    ("payload", "refusal"),
    [
        (PAYLOAD, None),
        (_statement_with(_subject("00" * 32)), "the subject digest does not match"),
        (_statement_with(_subject(None)), "the subject digest does not match"),
        (_statement_with(_resource_digest), "the subject digest does not match"),
    ],
)
def test_the_subject_digest_must_be_the_digest_of_the_resources(payload: bytes, refusal: str | None) -> None:
    if refusal is None:
        assert parse_statement(PAYLOAD_TYPE, payload, "m").paths() == set(FILES)
        return
    with pytest.raises(SignatureInvalid) as caught:
        parse_statement(PAYLOAD_TYPE, payload, "m")
    assert refusal in caught.value.message


# -- coverage: the repository's files against the signed ones -------------------------------------------------


def _selected(files: dict[str, bytes]) -> dict[str, dict[str, str]]:
    return {p: {"sha256": hashlib.sha256(d).hexdigest(), "size": str(len(d))} for p, d in files.items()}


def _never(path: str, algorithm: str, start: int | None, end: int | None) -> str:
    raise AssertionError("every digest is in the lock")


@pytest.mark.parametrize(
    ("repo_paths", "problem"),
    [
        ([*FILES, "model.sig", ".gitattributes"], None),
        # A file the repository holds at the commit and nobody signed, even if it is not selected:
        # a loader may still read it from the repository.
        ([*FILES, "model.sig", "tok.json"], "tok.json is in the repository but not covered by the signature"),
        ([*FILES, "model.sig", "sub/extra.py"], "sub/extra.py is in the repository but not covered by the signature"),
        (["model.safetensors", "model.sig"], "config.json is signed but not in the repository at this commit"),
    ],
)
def test_every_repository_file_must_be_signed(repo_paths: list[str], problem: str | None) -> None:
    manifest = parse_statement(PAYLOAD_TYPE, PAYLOAD, "m")
    selected = _selected({"model.safetensors": FILES["model.safetensors"]})
    run = lambda: compare(  # noqa: E731
        manifest, selected=selected, signature_path="model.sig", repo_paths=repo_paths, digest_of=_never, where="m"
    )
    if problem is None:
        assert run().covered == 2
        return
    with pytest.raises(SignatureInvalid) as caught:
        run()
    assert problem in caught.value.message


@pytest.mark.parametrize(
    ("path", "ignores", "expected"),
    [
        ("model.sig", ["model.sig"], True),
        (".git/config", [".git"], True),
        (".github/workflows/x.yml", [".github"], True),
        # A path component, not a string prefix: ignoring `.git` must not ignore `.gitmodules`,
        # and ignoring `model` must not drop `model.safetensors` from what must be signed.
        (".gitmodules", [".git"], False),
        ("model.safetensors", ["model"], False),
        ("model/weights.bin", ["model"], True),
        ("models/weights.bin", ["model"], False),
        ("a/b", ["a/b/c"], False),
        ("x", [], False),
    ],
)
def test_ignore_paths_match_whole_path_components(path: str, ignores: list[str], expected: bool) -> None:
    assert ignored(path, ignores) is expected


def test_a_signer_ignoring_a_name_prefix_does_not_leave_the_weights_unsigned() -> None:
    """The same rule through `compare`: ignore_paths `model` still leaves `model.safetensors` to be signed."""
    manifest = SignedManifest(parse_statement(PAYLOAD_TYPE, PAYLOAD, "m").resources[:1], ("model",))
    with pytest.raises(SignatureInvalid) as caught:
        compare(
            manifest,
            selected=_selected(FILES),
            signature_path="model.sig",
            repo_paths=[*FILES, "model.sig"],
            digest_of=_never,
            where="m",
        )
    assert "model.safetensors is locked but the signature does not cover it" in caught.value.message


# -- the root a certificate chain led to at `lock` is the one it must lead to at `sync` -----------------------


def test_sync_refuses_a_chain_that_now_leads_to_another_root(project: Path, hub: FakeHub) -> None:
    root_key = ec.generate_private_key(ec.SECP256R1())
    hub.repo("acme/signed").commit({**FILES, "model.sig": certificate_bundle(PAYLOAD, root_key)})
    (project / "roots.pem").write_bytes(_root(root_key, serial=1).public_bytes(serialization.Encoding.PEM))
    (project / "modellock.toml").write_text(
        '[models.m]\nrepo = "acme/signed"\nsignature = { certificate-chain = "roots.pem" }\n'
    )
    assert cli("lock").exit_code == 0
    # The same key and name re-issued as another root certificate: the chain still verifies against it,
    # but it is not the root the lock recorded.
    (project / "roots.pem").write_bytes(_root(root_key, serial=2).public_bytes(serialization.Encoding.PEM))
    before = snapshot(project)
    run = cli("sync")
    assert run.exit_code == 1, run.stderr
    assert "m: model.sig: the chain leads to a different root than the one locked" in run.stderr
    assert snapshot(project) == before and not (project / "models").exists()


def test_a_key_hint_is_not_needed_but_a_valid_signature_is() -> None:
    """Bundles before model_signing 1.1 carry the key (`rawBytes`), no hint: then only the ECDSA check stands
    between a forger and `lock`. (A bundle with no key material at all is refused by its shape, OMS §8.1.)"""
    bundle = json.loads(json.dumps(GOOD))
    der = KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    bundle["verificationMaterial"]["publicKey"] = {"rawBytes": b64(der)}
    forged = _resign(bundle, BY_OTHER)
    assert verify_bundle(json.dumps(bundle).encode(), Signer("key", public_key=_pem(KEY)), None, "m").payload == PAYLOAD
    with pytest.raises(SignatureInvalid, match="invalid for this key"):
        verify_bundle(forged, Signer("key", public_key=_pem(KEY)), None, "m")
