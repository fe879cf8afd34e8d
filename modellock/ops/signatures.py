"""Signatures in the flow: verify a model's OMS bundle at lock time, and again offline at sync."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from modellock.errors import ConfigError, SignatureError
from modellock.project.lockfile import LockedFile, LockedModel, LockedSignature
from modellock.project.manifest import ModelSpec
from modellock.signing.bundle import Attestation, bundle_kind, key_hint, load_public_key, verify_bundle
from modellock.signing.oms import Coverage, SignatureInvalid, compare, ignored, parse_statement
from modellock.signing.policy import PublicKey, from_lock, from_manifest
from modellock.signing.trust import TrustRoot, load_trust_root
from modellock.store.blobs import Store

DEFAULT_SIGNATURE = "model.sig"


@dataclass
class TrustSource:
    """Loads the trust root once per run, only if some model is signed."""

    explicit: Path | None
    online: bool
    root: TrustRoot | None = None
    warnings: list[str] = field(default_factory=list)

    def get(self) -> TrustRoot:
        if self.root is None:
            self.root, warning = load_trust_root(self.explicit, online=self.online)
            if warning:
                self.warnings.append(warning)
        return self.root


@dataclass(frozen=True)
class SignatureReport:
    """One model's verified signature, for the summary."""

    model: str
    mode: str
    identity: str
    issuer: str
    covers: int
    signed_not_installed: tuple[str, ...]
    trust_root: str
    new_signer: bool = False
    """The signer was not known before this run: trusted on first use, or accepted with --accept-new-signer."""
    trust: str = "pinned"
    """Why this signer is trusted, one of TRUST_REASONS."""
    unsigned_empty: tuple[str, ...] = ()
    """Locked zero-byte files a shard-mode signature cannot cover (OMS §6.3.2): the lock alone vouches for them."""


TRUST_REASONS = ("pinned", "first-use", "re-established", "recorded", "accepted")
"""`pinned`: the manifest names the key, the identity and issuer, or the certificate roots;
`first-use`: no pin and no earlier record, so whoever signed is recorded; `re-established`: as
first use, because the lock's record failed its seal (or the manifest) and was not believed;
`recorded`: the signer the sealed lock recorded before; `accepted`: a new signer, --accept-new-signer."""


def pinned(spec: ModelSpec) -> bool:
    """Does the manifest say who must sign? Then nothing the lock records is a trust input."""
    config = spec.signature
    return config is not None and (
        config.identity is not None or config.public_key is not None or config.certificate_chain is not None
    )


def signature_path(spec: ModelSpec, repo_paths: Collection[str]) -> str | None:
    """The bundle to verify: the configured path, else `model.sig` when the repository has one."""
    if spec.signature is not None and spec.signature.path is not None:
        return spec.signature.path
    return DEFAULT_SIGNATURE if DEFAULT_SIGNATURE in repo_paths else None


def _digest_of(store: Store, files: dict[str, LockedFile]):  # type: ignore[no-untyped-def]
    def digest(path: str, algorithm: str, start: int | None, end: int | None) -> str:
        f = files[path]
        return range_digest(store.blob_path(f.blake3), algorithm, start or 0, f.size if end is None else end)

    return digest


def range_digest(path: Path, algorithm: str, start: int, end: int) -> str:
    """The digest of bytes [start, end) of a file, read in pieces: a 1 GB shard (model_signing's default) or a
    whole file under BLAKE2b was read into memory at once (512 MiB of weights: 532 MiB resident)."""
    import os

    hasher = blake3.blake3() if algorithm == "blake3" else hashlib.new(algorithm)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with open(fd, "rb") as f:
        f.seek(start)
        remaining = end - start
        while remaining > 0:
            chunk = f.read(min(remaining, 8 << 20))
            if not chunk:
                break  # a short file: its digest differs from the signed one, which the caller reports
            hasher.update(chunk)
            remaining -= len(chunk)
    return str(hasher.hexdigest())


def _read_manifest_file(project_dir: Path, relative: str, what: str) -> bytes:
    from modellock.project.smallfile import read_small

    path = project_dir / relative
    try:
        return read_small(path)
    except OSError as exc:
        raise ConfigError(f"cannot read the {what}: {exc.strerror}", file=str(path)) from None


def hidden_by_signature_path(sig_path: str, sig_blake3: str, files: Collection[LockedFile]) -> list[str]:
    """Locked files the signature's own path would exclude from coverage, other than the bundle itself.

    The coverage check skips the signature file (and anything under its path); the path comes from
    the lock, which anyone can reseal, so naming a weights file there must not leave it unsigned.
    """
    return sorted(
        f.path for f in files if ignored(f.path, (sig_path,)) and not (f.path == sig_path and f.blake3 == sig_blake3)
    )


def _check(
    attestation: Attestation,
    model: str,
    files: list[LockedFile],
    store: Store,
    sig_path: str,
    repo_paths: Collection[str] | None,
    sig_blake3: str,
) -> tuple[Coverage, str]:
    """The coverage, and the statement's root digest as the lock records it (`sha256:` + hex)."""
    where = f"{model}: {sig_path}"
    hidden = hidden_by_signature_path(sig_path, sig_blake3, files)
    if hidden:
        raise SignatureInvalid(
            f"{where}: the signature's path names locked files that are not the signature: {', '.join(hidden[:5])}",
            hint="the lock was edited or forged (its signature path hides files from the signature); nothing was "
            "installed",
        )
    manifest = parse_statement(attestation.payload_type, attestation.payload, where)
    by_path = {f.path: f for f in files}
    selected = {f.path: {"sha256": f.sha256, "blake3": f.blake3, "size": str(f.size)} for f in files}
    coverage = compare(
        manifest,
        selected=selected,
        signature_path=sig_path,
        repo_paths=repo_paths,
        digest_of=_digest_of(store, by_path),
        where=where,
    )
    return coverage, "sha256:" + manifest.root_digest


def attest_for_lock(
    spec: ModelSpec,
    old: LockedModel | None,
    files: list[LockedFile],
    signature: LockedFile | None,
    repo_paths: Collection[str],
    store: Store,
    trust: TrustSource,
    project_dir: Path,
    *,
    accept_new_signer: bool,
    allow_unsigned: bool,
    discarded: bool = False,
) -> tuple[LockedSignature | None, SignatureReport | None]:
    """Verify the model's signature at the locked commit against the policy; nothing is written on refusal.

    `old` is the lock's entry only if it passed its seal and agrees with the manifest: an edited
    record is never a trust input. `discarded` says the lock had an entry that was not believed.
    """
    if signature is None:
        if spec.signature is not None and spec.signature.path is not None:
            raise SignatureError(
                f"refusing {spec.name}: the configured signature {spec.signature.path} is not in the repository",
                model=spec.name,
            )
        if pinned(spec):
            raise SignatureError(
                f"refusing {spec.name}: the manifest pins its signer, but the repository has no {DEFAULT_SIGNATURE}",
                hint="check the repository and revision, or remove the model's `signature` from modellock.toml",
                model=spec.name,
            )
        if spec.require_signature:
            raise SignatureError(
                f"refusing {spec.name}: it is not signed (no {DEFAULT_SIGNATURE}) and the policy requires signatures",
                hint="sign the model with model_signing, or remove it from [policy] require-signatures",
                model=spec.name,
            )
        if old is not None and old.signature is not None and not allow_unsigned:
            raise SignatureError(
                f"refusing {spec.name}: the locked commit was signed by {old.signature.identity}, "
                "the new one is unsigned",
                hint="pass --allow-unsigned to accept an unsigned upgrade",
                model=spec.name,
            )
        return None, None
    raw = store.blob_path(signature.blake3).read_bytes()
    config = spec.signature
    policy = from_manifest(config, lambda relative, what: _read_manifest_file(project_dir, relative, what))
    mode = policy.mode
    where = f"{spec.name}: {signature.path}"
    if not pinned(spec):
        refuse_unpinned_kind(raw, spec.name, where)
    else:
        refuse_other_kind(raw, mode, where)
    root = trust.get() if mode == "sigstore" else None
    attestation = verify_bundle(raw, policy.signer(), root, where)
    reason = _trust_reason(spec, old, attestation, discarded, accept_new_signer=accept_new_signer)
    coverage, root_digest = _check(attestation, spec.name, files, store, signature.path, repo_paths, signature.blake3)
    public_key = ""
    if isinstance(policy, PublicKey):
        from cryptography.hazmat.primitives import serialization

        key = load_public_key(policy.key)
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        public_key = base64.b64encode(der).decode()
    record = LockedSignature(
        path=signature.path,
        size=signature.size,
        blake3=signature.blake3,
        sha256=signature.sha256,
        mode=mode,
        identity=attestation.identity,
        issuer=attestation.issuer,
        key=attestation.key,
        public_key=public_key,
        log_index=attestation.log_index,
        integrated_time=attestation.integrated_time,
        trust_root=root.digest if root is not None else "",
        covers=coverage.covered,
        root_digest=root_digest,
    )
    report = SignatureReport(
        spec.name,
        mode,
        attestation.identity,
        attestation.issuer,
        coverage.covered,
        coverage.signed_not_installed,
        root.source if root is not None else "",
        reason in ("first-use", "re-established", "accepted"),
        reason,
        coverage.unsigned_empty,
    )
    return record, report


def refuse_unpinned_kind(raw: bytes, model: str, where: str) -> None:
    """A key- or certificate-signed bundle names no signer to trust on first use: its key or roots must be pinned."""
    kind = bundle_kind(raw)
    if kind == "key":
        hint = key_hint(raw)
        shown = f" (key hint {hint[:16]}…)" if hint else ""
        raise SignatureInvalid(
            f"{where}: signed with a public key{shown}, which the manifest does not pin; a key-signed "
            "bundle carries no key or identity that could be trusted on first use",
            hint=f"get the signer's public key (PEM) from its publisher and pin it: `modellock add REPO --public-key "
            f'KEY.pem`, or signature = {{ public-key = "KEY.pem" }} under [models.{model}] in modellock.toml',
        )
    if kind == "certificate":
        raise SignatureInvalid(
            f"{where}: signed with a certificate chain (model_signing sign certificate), whose roots the manifest "
            "does not pin",
            hint="pin the publisher's root certificates: `modellock add REPO --certificate-chain ROOTS.pem`, or "
            f'signature = {{ certificate-chain = "ROOTS.pem" }} under [models.{model}] in modellock.toml',
        )


_KIND_WORDS = {"sigstore": "Sigstore (keyless)", "key": "a public key", "certificate": "a certificate chain"}


def refuse_other_kind(raw: bytes, mode: str, where: str) -> None:
    """A pinned signer of one kind and a bundle of another: say so, rather than a verifier's parse error."""
    kind = bundle_kind(raw)
    if kind is not None and kind != mode:
        raise SignatureInvalid(
            f"{where}: signed with {_KIND_WORDS[kind]}, but the manifest pins {_KIND_WORDS[mode]}",
            hint="pin what the publisher signs with (`signature` under the model in modellock.toml)",
        )


def _trust_reason(
    spec: ModelSpec,
    old: LockedModel | None,
    attestation: Attestation,
    discarded: bool,
    *,
    accept_new_signer: bool,
) -> str:
    """Why the verified signer is trusted; SignatureInvalid when an unpinned signer differs from the sealed record."""
    if pinned(spec):
        return "pinned"  # the manifest decided, and verify_bundle enforced it: the lock has no say
    previous = old.signature if old is not None else None
    if previous is None:
        return "re-established" if discarded else "first-use"
    if (previous.identity, previous.issuer) == (attestation.identity, attestation.issuer):
        return "recorded"
    if not accept_new_signer:
        raise SignatureInvalid(
            f"refusing {spec.name}: signed by {attestation.identity} ({attestation.issuer}), "
            f"but the lock records {previous.identity} ({previous.issuer})",
            hint="if the new signer is legitimate, pass --accept-new-signer (or pin identity and issuer)",
        )
    return "accepted"


def attest_for_sync(
    model: LockedModel, store: Store, trust: TrustSource, project_dir: Path, roots: bytes | None
) -> None:
    """Re-verify a locked signature from the store, offline, before the model is committed."""
    signature = model.signature
    assert signature is not None
    raw = store.blob_path(signature.blake3).read_bytes()
    where = f"{model.name}: {signature.path}"
    policy = from_lock(signature, roots, model.name)
    attestation = verify_bundle(raw, policy.signer(), trust.get() if policy.mode == "sigstore" else None, where)
    if signature.mode == "certificate" and attestation.key != signature.key:
        raise SignatureInvalid(f"{where}: the chain leads to a different root than the one locked")
    _, root_digest = _check(attestation, model.name, list(model.files), store, signature.path, None, signature.blake3)
    refuse_root_mismatch(signature.root_digest, root_digest, where)


def refuse_root_mismatch(recorded: str, signed: str, where: str) -> None:
    """The lock's root digest is shown and exported as the model's name across tools: the bundle must prove it.

    A lock from before revision 4 records none, and stays valid; a recorded one that differs was edited.
    """
    if recorded and recorded != signed:
        raise SignatureInvalid(
            f"{where}: the lock records root digest {recorded}, but the signed statement's subject is {signed}",
            hint="the lock was edited or forged; run `modellock lock` again to record what the signature says",
        )
