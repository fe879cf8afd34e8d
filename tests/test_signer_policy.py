"""Signer policies are decided once, by type: from the manifest at `lock`, from the lock at `sync`."""

from __future__ import annotations

import base64

import pytest

from modellock.errors import SignatureError
from modellock.project.lockfile import LockedSignature
from modellock.project.manifest import SignatureSpec
from modellock.signing.bundle import Signer
from modellock.signing.policy import CertificateRoots, FirstUse, Keyless, PublicKey, from_lock, from_manifest

FILES = {"keys/pub.pem": b"PEM KEY", "keys/roots.pem": b"PEM ROOTS"}


def read(relative: str, what: str) -> bytes:
    return FILES[relative]


@pytest.mark.parametrize(
    ("spec", "policy", "signer"),
    [
        (None, FirstUse(), Signer("sigstore")),
        (SignatureSpec(path="model.sig"), FirstUse(), Signer("sigstore")),
        (
            SignatureSpec(identity="ci@example.com", issuer="https://issuer"),
            Keyless("ci@example.com", "https://issuer"),
            Signer("sigstore", "ci@example.com", "https://issuer"),
        ),
        (SignatureSpec(public_key="keys/pub.pem"), PublicKey(b"PEM KEY"), Signer("key", public_key=b"PEM KEY")),
        (
            SignatureSpec(certificate_chain="keys/roots.pem"),
            CertificateRoots(b"PEM ROOTS"),
            Signer("certificate", roots=b"PEM ROOTS"),
        ),
    ],
)
def test_from_manifest(spec: SignatureSpec | None, policy: object, signer: Signer) -> None:
    decided = from_manifest(spec, read)
    assert decided == policy and decided.signer() == signer
    assert decided.mode == (spec.mode if spec is not None else "sigstore")


def locked(mode: str, **extra: str) -> LockedSignature:
    return LockedSignature("model.sig", 1, "b3", "sha", mode, extra.pop("identity", "who"), **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record", "roots", "policy"),
    [
        (locked("sigstore", issuer="https://issuer"), None, Keyless("who", "https://issuer")),
        (locked("key", public_key=base64.b64encode(b"DER").decode()), None, PublicKey(b"DER")),
        (locked("certificate"), b"PEM ROOTS", CertificateRoots(b"PEM ROOTS")),
    ],
)
def test_from_lock(record: LockedSignature, roots: bytes | None, policy: object) -> None:
    assert from_lock(record, roots, "m") == policy


def test_certificate_mode_without_roots_cannot_be_decided() -> None:
    with pytest.raises(SignatureError, match="need the manifest's certificate-chain") as refused:
        from_lock(locked("certificate"), None, "m")
    assert refused.value.facts() == {"model": "m"}
