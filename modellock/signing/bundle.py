"""Verify an OMS signature bundle offline: Sigstore keyless, a public key, or a certificate chain.

Identity is compared here rather than through a sigstore policy object, so a refusal can say
exactly which check failed and trust-on-first-use can record the signer; every cryptographic
check (chain at signing time, SCT, log inclusion proof and checkpoint, SET, DSSE signature)
still runs inside sigstore-python.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from modellock import jsonread
from modellock.signing.oms import SignatureInvalid
from modellock.signing.shape import check_shape
from modellock.signing.trust import TrustRoot

Mode = Literal["sigstore", "key", "certificate"]
_OIDC_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"
_OIDC_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"
_SIGSTORE_OTHERNAME = "1.3.6.1.4.1.57264.1.7"
_BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
_MATERIAL = {
    "key": "a public-key hint",
    "certificate": "a certificate chain",
    "sigstore": "a Fulcio certificate and log entries",
}


@dataclass(frozen=True)
class Signer:
    """Who must have signed; identity and issuer None means: record whoever did (trust on first use)."""

    mode: Mode = "sigstore"
    identity: str | None = None
    issuer: str | None = None
    public_key: bytes | None = None
    """PEM or DER public key (key mode)."""
    roots: bytes | None = None
    """PEM root certificates (certificate mode)."""


@dataclass(frozen=True)
class Attestation:
    """What a verified bundle proves: who signed, when (by the log), and the signed payload."""

    mode: Mode
    identity: str
    issuer: str
    key: str
    """`sha256:` of the signing key (key mode) or of the chain's root (certificate mode)."""
    log_index: int | None
    integrated_time: int | None
    payload_type: str
    payload: bytes


def verify_bundle(raw: bytes, signer: Signer, trust: TrustRoot | None, where: str) -> Attestation:
    """Verify the bundle for `signer`; SignatureInvalid names the check that failed.

    The bundle's shape comes first (OMS §8.1), and its verification material must be that of the
    signer's method (§11.1: "MUST match field to method"): a certificate-chain bundle whose leaf
    happens to hold a pinned key is not a key-mode signature.
    """
    method = check_shape(raw, where)
    if method != signer.mode:
        raise SignatureInvalid(
            f"{where}: the bundle carries {_MATERIAL[method]}, but it is verified as a {signer.mode}-mode signature",
            hint="pin what the publisher signs with (`signature` under the model in modellock.toml)",
        )
    if signer.mode == "key":
        return _verify_key(raw, signer, where)
    if signer.mode == "certificate":
        return _verify_certificate(raw, signer, where)
    assert trust is not None
    return _verify_sigstore(raw, signer, trust, where)


def bundle_kind(raw: bytes) -> Mode | None:
    """Which way a bundle was signed, by its verification material (None if it cannot be told).

    `model_signing sign key` writes a v0.3 bundle with only a key hint, `sign certificate` one with an
    `x509CertificateChain`; Sigstore keyless bundles carry a Fulcio certificate and a log entry.
    Nothing is verified here: this only chooses which verification, and which refusal, applies.
    """
    try:
        bundle = jsonread.loads(raw, "the bundle")
    except (ValueError, RecursionError):
        return None
    material = bundle.get("verificationMaterial") if isinstance(bundle, dict) else None
    if not isinstance(material, dict):
        return None
    if bundle.get("mediaType") == _BUNDLE_V03 and "x509CertificateChain" in material:
        return "certificate"
    if "publicKey" in material and "certificate" not in material and "x509CertificateChain" not in material:
        return "key"
    return "sigstore"


def key_hint(raw: bytes) -> str | None:
    """The key hint of a key-mode bundle (model_signing: SHA-256 of the public key's PEM), if it has one."""
    try:
        hint = jsonread.loads(raw, "the bundle")["verificationMaterial"]["publicKey"]["hint"]
    except (ValueError, RecursionError, KeyError, TypeError):
        return None
    return hint if isinstance(hint, str) and hint.isascii() and hint.isalnum() and len(hint) <= 128 else None


def _pae(payload_type: str, payload: bytes) -> bytes:
    return f"DSSEv1 {len(payload_type)} {payload_type} {len(payload)} ".encode() + payload


class _Recorder:
    """A sigstore policy that accepts any signer and remembers the certificate's identity."""

    def __init__(self) -> None:
        self.identities: list[str] = []
        self.issuer: str | None = None

    def verify(self, cert: Any) -> None:
        from cryptography import x509

        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            san = x509.SubjectAlternativeName([])
        self.identities = [
            *san.get_values_for_type(x509.RFC822Name),
            *san.get_values_for_type(x509.UniformResourceIdentifier),
        ]
        for other in san.get_values_for_type(x509.OtherName):
            if other.type_id.dotted_string == _SIGSTORE_OTHERNAME:
                self.identities.append(_der_string(other.value))
        for oid, parse in ((_OIDC_ISSUER_V1, bytes.decode), (_OIDC_ISSUER_V2, _der_string)):
            try:
                value = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value.value
            except x509.ExtensionNotFound:
                continue
            self.issuer = parse(value)
            break


def _der_string(value: bytes) -> str:
    # A DER UTF8String (tag 0x0c) with a short or long length.
    if len(value) < 2 or value[0] != 0x0C:
        return value.decode("utf-8", "replace")
    length, offset = value[1], 2
    if length & 0x80:
        count = length & 0x7F
        length, offset = int.from_bytes(value[2 : 2 + count], "big"), 2 + count
    return value[offset : offset + length].decode("utf-8", "replace")


def _explain(exc: Exception) -> str:
    text = str(exc)
    if "DSSE" in text and "signature" in text:
        return "the signature over the statement is invalid (the bundle was tampered with)"
    if "not enough sources of verified time" in text or "inclusion promise or signed timestamp" in text:
        return "no verified signing time (no log entry or timestamp): the certificate's validity cannot be checked"
    if "invalid log entry" in text or "inclusion" in text or "checkpoint" in text or "SET" in text:
        return f"the transparency-log proof is invalid ({text})"
    if "certificate chain" in text or "candidates exhausted" in text:
        return (
            "the certificate does not chain to the trusted root at signing time "
            "(expired when it signed, or issued by another Sigstore instance)"
        )
    if "validity" in text or "expired" in text:
        return f"the certificate was not valid at signing time ({text})"
    return text


def _verify_sigstore(raw: bytes, signer: Signer, trust: TrustRoot, where: str) -> Attestation:
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle

    try:
        bundle = Bundle.from_json(raw)
    except (SigstoreError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        explained = _explain(exc)
        reason = explained if explained != str(exc) else f"not a valid Sigstore bundle: {first}"
        raise SignatureInvalid(f"{where}: {reason}") from None
    recorder = _Recorder()
    try:
        payload_type, payload = trust.verifier().verify_dsse(bundle, recorder)
    except SigstoreError as exc:
        raise SignatureInvalid(f"{where}: {_explain(exc)}", hint=f"verified against {trust.source}") from None
    if len(recorder.identities) != 1:
        raise SignatureInvalid(f"{where}: the certificate names {len(recorder.identities)} identities, expected one")
    identity, issuer = recorder.identities[0], recorder.issuer or ""
    if signer.identity is not None and identity != signer.identity:
        raise SignatureInvalid(
            f"{where}: signed by identity {identity!r}, but the policy requires {signer.identity!r}",
            hint="if this signer is legitimate, update `identity` in the manifest",
        )
    if signer.issuer is not None and issuer != signer.issuer:
        raise SignatureInvalid(
            f"{where}: identity issued by {issuer!r}, but the policy requires issuer {signer.issuer!r}",
        )
    entry = bundle.log_entry._inner
    log_index = int(entry.log_index) if entry.log_index is not None else None
    integrated = int(entry.integrated_time) if entry.integrated_time is not None else None
    return Attestation("sigstore", identity, issuer, "", log_index, integrated, payload_type, payload)


def _envelope(raw: bytes, where: str) -> tuple[dict[str, Any], str, bytes, bytes]:
    try:
        bundle = jsonread.loads(raw, "the bundle")
        if bundle.get("mediaType") != _BUNDLE_V03:
            raise SignatureInvalid(f"{where}: unsupported bundle media type {bundle.get('mediaType')!r}")
        envelope = bundle["dsseEnvelope"]
        if len(envelope["signatures"]) != 1:
            raise SignatureInvalid(f"{where}: the envelope must carry exactly one signature")
        payload = base64.b64decode(envelope["payload"], validate=True)
        signature = base64.b64decode(envelope["signatures"][0]["sig"], validate=True)
        return bundle, str(envelope["payloadType"]), payload, signature
    except SignatureInvalid:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureInvalid(f"{where}: malformed signature bundle ({exc})") from None


def _b64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise SignatureInvalid(f"{where}: the bundle's public key is not Base64") from None


def _ec_verify(public_key: Any, signature: bytes, data: bytes, where: str) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise SignatureInvalid(f"{where}: only elliptic-curve keys are supported (as in model_signing)")
    digest = {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}.get(public_key.curve.key_size)
    if digest is None:
        raise SignatureInvalid(f"{where}: unsupported curve {public_key.curve.name}")
    try:
        public_key.verify(signature, data, ec.ECDSA(digest))
    except InvalidSignature:
        raise SignatureInvalid(f"{where}: the signature over the statement is invalid for this key") from None


def _spki_fingerprint(public_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def load_public_key(data: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    # certtool and the OpenSSF model-signing test keys put a text dump of the key before the PEM block.
    begin = data.find(b"-----BEGIN ")
    try:
        if begin != -1:
            return serialization.load_pem_public_key(data[begin:])
        return serialization.load_der_public_key(data)
    except ValueError as exc:
        raise SignatureInvalid(f"cannot read the public key: {exc}") from None


def _verify_key(raw: bytes, signer: Signer, where: str) -> Attestation:
    from cryptography.hazmat.primitives import serialization

    assert signer.public_key is not None
    key = load_public_key(signer.public_key)
    bundle, payload_type, payload, signature = _envelope(raw, where)
    identifier = bundle["verificationMaterial"]["publicKey"]
    hint, raw_key = identifier.get("hint"), identifier.get("rawBytes")
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    if hint and hint != hashlib.sha256(pem).hexdigest():
        raise SignatureInvalid(f"{where}: signed with a different key than the one configured (key hint differs)")
    # Bundles before model_signing 1.1 carry the key itself (`rawBytes`, OMS §11.2): it must be the pinned one.
    if not hint and raw_key and _spki_fingerprint(load_public_key(_b64(raw_key, where))) != _spki_fingerprint(key):
        raise SignatureInvalid(f"{where}: signed with a different key than the one configured (the bundle's key)")
    _ec_verify(key, signature, _pae(payload_type, payload), where)
    fingerprint = _spki_fingerprint(key)
    return Attestation("key", fingerprint, "", fingerprint, None, None, payload_type, payload)


def for_signing(leaf: Any) -> bool:
    """model_signing's rule for a signing certificate: KeyUsage digitalSignature, or else ExtendedKeyUsage
    codeSigning. A pinned root may also issue TLS or key-agreement certificates; those sign no model."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        if leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            return True
    except x509.ExtensionNotFound:
        pass
    try:
        return ExtendedKeyUsageOID.CODE_SIGNING in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False


def _verify_certificate(raw: bytes, signer: Signer, where: str) -> Attestation:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store, VerificationError

    assert signer.roots is not None
    bundle, payload_type, payload, signature = _envelope(raw, where)
    try:
        chain = [
            x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"]))
            for c in bundle["verificationMaterial"]["x509CertificateChain"]["certificates"]
        ]
        roots = x509.load_pem_x509_certificates(signer.roots)
    except (KeyError, TypeError, ValueError) as exc:
        raise SignatureInvalid(f"{where}: no readable certificate chain ({exc})") from None
    if not chain:
        raise SignatureInvalid(f"{where}: the bundle carries no certificate")
    leaf = chain[0]
    ee = ExtensionPolicy.permit_all()
    ca = ExtensionPolicy.webpki_defaults_ca().may_be_present(x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    # Like model_signing: the chain is checked at the moment the leaf became valid (when it signed).
    verifier = (
        PolicyBuilder()
        .store(Store(roots))
        .time(leaf.not_valid_before_utc)
        .extension_policies(ca_policy=ca, ee_policy=ee)
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(leaf, chain[1:])
    except VerificationError as exc:
        raise SignatureInvalid(f"{where}: the certificate chain does not lead to a configured root ({exc})") from None
    if not for_signing(leaf):
        raise SignatureInvalid(
            f"{where}: the signing certificate ({leaf.subject.rfc4514_string()}) is not one for signing: it has "
            "neither KeyUsage digitalSignature nor ExtendedKeyUsage codeSigning",
            hint="the pinned roots issue certificates for other uses too; the publisher must sign with a "
            "signing certificate (model_signing refuses this one as well)",
        )
    _ec_verify(leaf.public_key(), signature, _pae(payload_type, payload), where)
    root = verified.chain[-1]
    identity = leaf.subject.rfc4514_string()
    fingerprint = "sha256:" + root.fingerprint(hashes.SHA256()).hex()
    return Attestation(
        "certificate", identity, root.subject.rfc4514_string(), fingerprint, None, None, payload_type, payload
    )
