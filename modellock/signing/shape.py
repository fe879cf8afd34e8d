"""The shape of an OMS bundle (spec v1.0 §4, §8.1), checked before any cryptography.

A bundle that is empty, lacks its envelope or verification material, carries the material of
another signing method, or wraps a statement of another predicate is refused here with the reason
the specification gives, rather than with whatever a verifier happens to trip over first. Nothing
here is proof of anything: the signature is verified afterwards (`bundle.verify_bundle`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from modellock import jsonread
from modellock.signing.oms import PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE, SignatureInvalid

Method = Literal["sigstore", "key", "certificate"]
_MEDIA_PREFIX = "application/vnd.dev.sigstore.bundle"


def _refuse(where: str, reason: str) -> SignatureInvalid:
    return SignatureInvalid(
        f"{where}: {reason}", hint="the signature file is not an OMS v1.0 bundle; nothing was trusted"
    )


def method_of(material: dict[str, Any], where: str, media: str = _MEDIA_PREFIX + ".v0.3+json") -> Method:
    """The signing method the verification material belongs to (spec §4.1), or a refusal saying what is missing.

    Sigstore bundles before v0.3 carried the Fulcio certificate as a chain; from v0.3 a chain is certificate mode.
    """
    if "publicKey" in material:
        key = material["publicKey"]
        if not (isinstance(key, dict) and (isinstance(key.get("hint"), str) or isinstance(key.get("rawBytes"), str))):
            raise _refuse(where, "the public-key material has neither a `hint` nor `rawBytes`")
        return "key"
    legacy_keyless = not media.endswith(".v0.3+json") and material.get("tlogEntries")
    if "x509CertificateChain" in material and not legacy_keyless:
        chain = material["x509CertificateChain"]
        certificates = chain.get("certificates") if isinstance(chain, dict) else None
        if not (isinstance(certificates, list) and certificates and all(_raw_bytes(c) for c in certificates)):
            raise _refuse(where, "the certificate chain carries no certificates")
        return "certificate"
    if "certificate" in material or legacy_keyless:
        if not _raw_bytes(material.get("certificate", {"rawBytes": "chain"})):
            raise _refuse(where, "the Fulcio certificate is empty")
        entries = material.get("tlogEntries")
        if not (isinstance(entries, list) and entries):
            raise _refuse(
                where,
                "a Sigstore (keyless) bundle must carry at least one transparency-log entry (OMS §4.1), "
                "this one has none",
            )
        return "sigstore"
    raise _refuse(where, "the verification material names no public key, certificate chain or certificate")


def _raw_bytes(item: object) -> bool:
    return isinstance(item, dict) and isinstance(item.get("rawBytes"), str) and bool(item["rawBytes"])


def check_shape(raw: bytes, where: str) -> Method:
    """The bundle's signing method, once its structure is that of an OMS bundle; SignatureInvalid says why not."""
    if not raw.strip():
        raise _refuse(where, "the signature file is empty")
    try:
        bundle = jsonread.loads(raw, "the bundle")
    except jsonread.MalformedJSON as exc:
        # Too deep is said as such (the same words as every other bounded JSON read), not as "not JSON".
        raise _refuse(where, exc.message if exc.too_deep else "the signature file is not JSON") from None
    if not isinstance(bundle, dict):
        raise _refuse(where, "the signature file is not a JSON object")
    media = bundle.get("mediaType")
    if not (isinstance(media, str) and media.startswith(_MEDIA_PREFIX)):
        raise _refuse(where, f"media type {media!r} is not a Sigstore bundle")
    material = bundle.get("verificationMaterial")
    if not isinstance(material, dict):
        raise _refuse(where, "the bundle has no verification material (no key, certificate chain or certificate)")
    envelope = bundle.get("dsseEnvelope")
    if not isinstance(envelope, dict):
        what = "a message signature, not" if "messageSignature" in bundle else "no"
        raise _refuse(where, f"the bundle has {what} DSSE envelope")
    method = method_of(material, where, media)
    _check_envelope(envelope, where)
    return method


def _check_envelope(envelope: dict[str, Any], where: str) -> None:
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise _refuse(where, f"the envelope's payload type is {envelope.get('payloadType')!r}, not {PAYLOAD_TYPE}")
    signatures = envelope.get("signatures")
    if not (isinstance(signatures, list) and signatures):
        raise _refuse(where, "the envelope carries no signature")
    for signature in signatures:
        if not (isinstance(signature, dict) and isinstance(signature.get("sig"), str) and signature["sig"]):
            raise _refuse(where, "an envelope signature has no `sig`")
        if signature.get("keyid") not in (None, "") and not isinstance(signature.get("keyid"), str):
            raise _refuse(where, "an envelope signature's keyid is not a string")
    payload = envelope.get("payload")
    try:
        decoded = base64.b64decode(payload, validate=True) if isinstance(payload, str) and payload else b""
    except (binascii.Error, ValueError):
        decoded = b""
    if not decoded:
        raise _refuse(where, "the envelope's payload is missing or not Base64")
    try:
        statement = jsonread.loads(decoded, "the statement")
    except ValueError:
        return  # bytes changed in transit read as a broken signature, which the verifier reports next
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise _refuse(where, "the envelope's payload is not an in-toto v1 statement")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise _refuse(
            where, f"the statement's predicate type is {statement.get('predicateType')!r}, not {PREDICATE_TYPE}"
        )
