"""Who must have signed a model, as a type: decided once, from the manifest (at `lock`) or the lock (at `sync`).

Each policy holds exactly what its kind of verification needs, so an illegal combination (a key
mode without a key, certificates without roots) cannot be constructed, and no caller re-reads a
mode string to find out which fields are set. `bundle.verify_bundle` still takes a `Signer`;
`signer()` is the bridge until it takes a policy itself.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from modellock.errors import SignatureError
from modellock.project.lockfile import LockedSignature
from modellock.project.manifest import SignatureSpec
from modellock.signing.bundle import Mode, Signer


@dataclass(frozen=True)
class FirstUse:
    """Keyless (Sigstore), whoever signs: the first lock records the signer, later ones must match it."""

    mode: ClassVar[Mode] = "sigstore"

    def signer(self) -> Signer:
        return Signer("sigstore")


@dataclass(frozen=True)
class Keyless:
    """Keyless (Sigstore): the certificate must name this identity, issued by this OIDC issuer."""

    identity: str
    issuer: str
    mode: ClassVar[Mode] = "sigstore"

    def signer(self) -> Signer:
        return Signer("sigstore", self.identity, self.issuer)


@dataclass(frozen=True)
class PublicKey:
    """A key pair's public half (PEM or DER): no certificate, no transparency log."""

    key: bytes
    mode: ClassVar[Mode] = "key"

    def signer(self) -> Signer:
        return Signer("key", public_key=self.key)


@dataclass(frozen=True)
class CertificateRoots:
    """A certificate chain that must lead to one of these PEM roots."""

    roots: bytes
    mode: ClassVar[Mode] = "certificate"

    def signer(self) -> Signer:
        return Signer("certificate", roots=self.roots)


SignerPolicy = FirstUse | Keyless | PublicKey | CertificateRoots


def from_manifest(spec: SignatureSpec | None, read: Callable[[str, str], bytes]) -> SignerPolicy:
    """The manifest's policy (`read(relative path, what)` reads a key or chain file beside it).

    The manifest reader already refuses identity without issuer and two modes at once.
    """
    if spec is None:
        return FirstUse()
    if spec.public_key is not None:
        return PublicKey(read(spec.public_key, "public key"))
    if spec.certificate_chain is not None:
        return CertificateRoots(read(spec.certificate_chain, "certificate chain"))
    if spec.identity is not None and spec.issuer is not None:
        return Keyless(spec.identity, spec.issuer)
    return FirstUse()


def from_lock(locked: LockedSignature, roots: bytes | None, model: str) -> SignerPolicy:
    """What `sync` re-verifies against: the signer the lock recorded (certificate roots come from the manifest)."""
    if locked.mode == "key":
        return PublicKey(base64.b64decode(locked.public_key))
    if locked.mode == "certificate":
        if roots is None:
            raise SignatureError(
                f"{model}: {locked.path}: certificate-mode signatures need the manifest's certificate-chain "
                "(not --frozen)",
                model=model,
            )
        return CertificateRoots(roots)
    return Keyless(locked.identity, locked.issuer)
