"""Sign an OMS statement: DSSE over the in-toto payload, wrapped in a Sigstore bundle (OMS §6.7, §6.8).

Key and certificate bundles carry what model_signing 1.x writes, so its verifier reads them: a
v0.3 bundle, `publicKey.hint` = SHA-256 of the public key's PEM (key mode) or the leaf then the
chain as DER (`x509CertificateChain`, certificate mode), empty `tlogEntries`, `keyid: ""`. Keyless
signing is sigstore-python's: Fulcio certificate, Rekor entry, its bundle as it writes it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modellock.errors import ModellockError, UsageError
from modellock.signing.oms import PAYLOAD_TYPE

BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
_CURVES = {"secp256r1": 256, "secp384r1": 384, "secp521r1": 521}


class SigningFailed(ModellockError):
    """The signing service refused or could not be reached (keyless signing); exit 2."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is actually signed."""
    return f"DSSEv1 {len(payload_type)} {payload_type} {len(payload)} ".encode() + payload


def _read(path: Path, what: str) -> bytes:
    from modellock.project.smallfile import read_small

    try:
        return read_small(path)
    except OSError as exc:
        raise UsageError(f"cannot read the {what} {path}: {exc.strerror}") from None


def load_private_key(path: Path, password: bytes | None = None) -> Any:
    """An EC private key (P-256, P-384 or P-521, OMS algorithm registry) from PEM; UsageError otherwise."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    data = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, password)
    except TypeError:
        if password is not None:  # cryptography says TypeError both ways round
            raise UsageError(
                f"{path}: the private key is not encrypted, but a password was given",
                hint="drop --password-file, or pass the encrypted key",
            ) from None
        raise UsageError(
            f"{path}: the private key is encrypted", hint="pass its password with --password-file FILE"
        ) from None
    except ValueError:
        raise UsageError(
            f"{path}: not a PEM private key, or the password is wrong",
            hint="make one with `openssl ecparam -name prime256v1 -genkey -noout -out key.pem`",
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _CURVES:
        kind = key.curve.name if isinstance(key, ec.EllipticCurvePrivateKey) else type(key).__name__
        raise UsageError(
            f"{path}: a {kind} key; OMS key and certificate signatures use EC P-256, P-384 or P-521",
            hint="make one with `openssl ecparam -name prime256v1 -genkey -noout -out key.pem`",
        )
    return key


def _hash_for(key: Any) -> Any:
    from cryptography.hazmat.primitives import hashes

    return {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}[key.curve.key_size]


def key_hint(public_key: Any) -> str:
    """model_signing's hint: SHA-256 (hex) of the public key as SubjectPublicKeyInfo PEM."""
    from cryptography.hazmat.primitives import serialization

    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


@dataclass(frozen=True)
class KeySigner:
    """Sign with a long-lived EC key; the bundle names it by hint only (OMS §4.1 `key`)."""

    private_key: Any

    def material(self) -> dict[str, Any]:
        return {"publicKey": {"hint": key_hint(self.private_key.public_key())}, "tlogEntries": []}

    def bundle(self, payload: bytes) -> bytes:
        from cryptography.hazmat.primitives.asymmetric import ec

        signature = self.private_key.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(_hash_for(self.private_key)))
        envelope = {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}],
        }
        bundle = {"mediaType": BUNDLE_V03, "verificationMaterial": self.material(), "dsseEnvelope": envelope}
        return (json.dumps(bundle, indent=2) + "\n").encode()


@dataclass(frozen=True)
class CertificateSigner(KeySigner):
    """Sign with the key of a signing certificate; the bundle carries the leaf and its chain (OMS §4.1)."""

    certificates: tuple[bytes, ...] = ()
    """DER: the leaf first, then the chain towards (and possibly including) the root."""

    def material(self) -> dict[str, Any]:
        chain = [{"rawBytes": base64.b64encode(der).decode()} for der in self.certificates]
        return {"x509CertificateChain": {"certificates": chain}, "tlogEntries": []}


def certificate_signer(
    key_path: Path, certificate: Path, chain: tuple[Path, ...], password: bytes | None
) -> CertificateSigner:
    """The key and its certificate must pair, or the bundle would never verify: refused here, not later."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = load_private_key(key_path, password)
    try:
        leaf = x509.load_pem_x509_certificate(_read(certificate, "certificate"))
    except ValueError:
        raise UsageError(f"{certificate}: not a PEM certificate") from None
    if key_hint(leaf.public_key()) != key_hint(key.public_key()):
        raise UsageError(
            f"{certificate}: the certificate is not for the key {key_path}",
            hint="pass the private key the certificate was issued to",
        )
    rest: list[bytes] = []
    for path in chain:
        try:
            rest += [
                c.public_bytes(serialization.Encoding.DER)
                for c in x509.load_pem_x509_certificates(_read(path, "chain"))
            ]
        except ValueError:
            raise UsageError(f"{path}: not PEM certificates") from None
    return CertificateSigner(key, (leaf.public_bytes(serialization.Encoding.DER), *rest))


def sign_keyless(payload: bytes, identity_token: str | None, trust_config: Path | None) -> bytes:
    """A Sigstore keyless bundle: a Fulcio certificate for the OIDC identity, a Rekor entry (OMS §4.1 `sigstore`).

    The token is `--identity-token`, else the ambient one (GitHub Actions, GCP, …) sigstore-python detects.
    `trust_config` is a ClientTrustConfig JSON for another Sigstore instance; production otherwise.
    """
    from sigstore.dsse import Statement
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityError, IdentityToken, detect_credential
    from sigstore.sign import SigningContext

    try:
        token = identity_token or detect_credential()
    except IdentityError as exc:
        raise SigningFailed(f"could not get an ambient OIDC identity token: {exc}") from None
    if not token:
        raise UsageError(
            "keyless signing needs an OIDC identity token, and none was found in the environment",
            hint="pass --identity-token TOKEN, run in CI with an ambient identity (GitHub Actions: id-token: write), "
            "or sign with --key KEY.pem",
        )
    try:
        identity = IdentityToken(token)
    except IdentityError as exc:
        raise UsageError(f"the identity token is not usable: {exc}") from None
    try:
        if trust_config is not None:
            config = ClientTrustConfig.from_json(_read(trust_config, "trust config").decode())
        else:
            config = ClientTrustConfig.production()
        context = SigningContext.from_trust_config(config)
        # cache=True is not about reuse here: with cache=False sigstore-python 4.5 draws a new ephemeral key on
        # every use, so the certificate is for one key and the signature by another (it never verifies).
        with context.signer(identity, cache=True) as signer:
            bundle = signer.sign_dsse(Statement(payload))
    except SigstoreError as exc:
        raise SigningFailed(f"keyless signing failed: {str(exc).splitlines()[0]}") from None
    except (OSError, ValueError) as exc:  # network errors, unreadable trust configuration
        raise SigningFailed(f"keyless signing failed: {exc}") from None
    return (bundle.to_json() + "\n").encode()
