"""`sign`: an OMS v1.0 signature (`model.sig`) for a locked model or a local directory.

A locked model is signed from the lock's digests once the store's bytes are proved to be the
lock's (the same check `push` makes before a byte leaves): files-mode SHA-256 and BLAKE3 come
from the lock, never hashed again; shards and BLAKE2b are hashed from those verified blobs. A
directory is enumerated and hashed as OMS §6 says. Every bundle is built before the first is
written, and each is written atomically, never through a symbolic link.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import blake3

from modellock.errors import CheckFailed, IntegrityError, UsageError
from modellock.project.lockfile import LockedModel, Lockfile
from modellock.project.paths import unsafe_reason
from modellock.signing.directory import DEFAULT_IGNORES, canonical_ignore, enumerate_model, hash_ranges, is_ignored
from modellock.signing.statement import Serialization, Signed, build_statement, shard_resources
from modellock.store import atomic
from modellock.store.blobs import Store
from modellock.store.installed import symlinked_part

SIGNATURE_NAME = "model.sig"
DEFAULT_SHARD_SIZE = 1_000_000_000
"""OMS §6.3.2: signers SHOULD default to 1 GB shards."""


class BundleMaker(Protocol):
    def bundle(self, payload: bytes) -> bytes: ...


@dataclass(frozen=True)
class Keyless:
    """Sigstore keyless signing: an OIDC token (or the ambient one) and, optionally, another instance."""

    identity_token: str | None
    trust_config: Path | None

    def bundle(self, payload: bytes) -> bytes:
        from modellock.signing.sign import sign_keyless

        return sign_keyless(payload, self.identity_token, self.trust_config)


@dataclass(frozen=True)
class SignedModel:
    """One signature written."""

    target: str
    """The locked model's name, or the directory signed."""
    signature: str
    """Where model.sig was written."""
    files: int
    resources: int
    root_digest: str
    """OMS root digest (SHA-256 over the resource digests): the model's identity across tools."""
    serialization: str
    hash_type: str
    unsigned_empty: tuple[str, ...]
    """Zero-byte files shard serialization cannot name (OMS §6.3.2, model-transparency #653)."""


@dataclass(frozen=True)
class SignResult:
    models: tuple[SignedModel, ...]


@dataclass(frozen=True)
class SignOptions:
    method: str
    hash_type: str
    shard_size: int | None
    ignore_paths: tuple[str, ...]
    signature: Path | None
    """Where to write (one target only); None: DIR/model.sig, or signatures/NAME/model.sig for a locked model."""


def serialization_for(options: SignOptions, extra_ignores: tuple[str, ...]) -> Serialization:
    if options.method not in ("files", "shards"):
        raise UsageError(f"unknown serialization {options.method!r}", hint="use files or shards")
    if options.hash_type not in ("sha256", "blake3", "blake2b"):
        raise UsageError(f"unknown hash {options.hash_type!r}", hint="use sha256 (OMS requires it), blake3 or blake2b")
    size = options.shard_size if options.method == "shards" else None
    if size is not None and size <= 0:
        raise UsageError("--shard-size must be a positive number of bytes")
    ignores = (*DEFAULT_IGNORES, *(canonical_ignore(p) for p in options.ignore_paths), *extra_ignores)
    return Serialization(options.method, options.hash_type, size, tuple(ignores))


def refuse_symlink(path: Path) -> None:
    """model.sig is replaced, never written through: a link planted there could point anywhere."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise UsageError(f"{path} is a symbolic link; refusing to write the signature through it",
                         hint="remove the link, or pass --signature with another path")  # fmt: skip
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path} exists and is not a regular file")


def _directory_signature(root: Path, options: SignOptions) -> Path:
    if options.signature is not None:
        return options.signature
    return (root if root.is_dir() and not root.is_symlink() else root.parent) / SIGNATURE_NAME


def prepare_directory(root: Path, options: SignOptions) -> tuple[Path, bytes, SignedModel]:
    """The statement over a directory, and where its signature goes (excluded from what is signed)."""
    signature = _directory_signature(root, options)
    extra: tuple[str, ...] = ()
    try:
        inside = signature.absolute().relative_to(root.absolute())
        extra = (inside.as_posix(),)
    except ValueError:
        pass
    serialization = serialization_for(options, extra)
    files = enumerate_model(root, serialization.ignore_paths)
    resources: list[Signed] = []
    empty = []
    for f in files:
        reason = unsafe_reason(f.name)
        if reason:  # a verifier (modellock's own) would refuse the path: never sign what cannot be installed
            raise UsageError(f"{root}: {f.name} cannot be signed: {reason}", hint=f"exclude it: --ignore-path {f.name}")
        ranges = hash_ranges(f.path, f.size, serialization.hash_type, serialization.shard_size)
        if not ranges:
            empty.append(f.name)
        resources += shard_resources(f.name, ranges, serialization)
    if not resources:
        raise UsageError(f"{root}: every file is empty, and shard serialization signs no empty file",
                         hint="sign with --serialization files")  # fmt: skip
    name = root.absolute().name if root.is_dir() else root.name
    payload, digest = build_statement(name, resources, serialization)
    model = SignedModel(str(root), str(signature), len(files), len(resources), digest, serialization.method,
                        serialization.hash_type, tuple(empty))  # fmt: skip
    return signature, payload, model


def _verified_blob(store: Store, model: LockedModel, path: str, blake3: str, size: int, sha256: str) -> None:
    """The store holds the lock's bytes for this file: sealed as written, or re-hashed to its name; paired SHA-256."""
    if not (store.intact(blake3, size) or (store.has(blake3, size) and store.verify_blob(blake3))):
        if store.has(blake3, size):
            raise IntegrityError(
                f"{model.name}: {path}: the store's bytes no longer match the lock",
                hint="run `modellock sync` to fetch them again; nothing was signed",
            )
        raise CheckFailed(
            f"{model.name}: {path} is not in the store",
            hint="run `modellock sync` first; sign covers only bytes verified against the lock",
        )
    known = store.sha256_of(blake3, size)
    if known is not None and known != sha256:
        raise IntegrityError(
            f"{model.name}: {path}: the lock pairs BLAKE3 {blake3[:12]}… with another SHA-256 than the store's bytes",
            hint="the lock was edited or forged; nothing was signed",
        )


def prepare_locked(
    model: LockedModel, store: Store, options: SignOptions, project_dir: Path
) -> tuple[Path, bytes, SignedModel]:
    """The statement over a locked model's files, from the lock's digests once the store's bytes are proved."""
    serialization = serialization_for(options, (SIGNATURE_NAME,))
    signature = options.signature or project_dir / "signatures" / model.name / SIGNATURE_NAME
    if options.signature is None:
        # A checkout can carry `signatures -> elsewhere` (git commits links): the default place is the project's.
        linked = symlinked_part(project_dir, "signatures", model.name, SIGNATURE_NAME)
        if linked is not None:
            raise UsageError(
                f"{linked} is a symbolic link; refusing to write {model.name}'s signature through it",
                hint="remove the link, or pass --signature with the path to write",
            )
    files = [f for f in model.files if not is_ignored(f.path, serialization.ignore_paths)]
    if not files:
        raise UsageError(f"{model.name}: every locked file is ignored; nothing to sign")
    resources: list[Signed] = []
    empty = []
    for f in files:
        _verified_blob(store, model, f.path, f.blake3, f.size, f.sha256)
        if serialization.method == "files" and serialization.hash_type in ("sha256", "blake3"):
            digest = f.sha256 if serialization.hash_type == "sha256" else f.blake3
            resources.append(Signed(f.path, serialization.hash_type, digest))
            continue
        blob = store.blob_path(f.blake3)
        # The check above may rest on the blob's stat alone, and the blob can change after it: the bytes
        # hashed for the signature are the ones proved to be the lock's, in the same read.
        whole = blake3.blake3()
        ranges = hash_ranges(blob, f.size, serialization.hash_type, serialization.shard_size, also=whole)
        if whole.hexdigest() != f.blake3:
            raise IntegrityError(
                f"{model.name}: {f.path}: the store's bytes no longer match the lock",
                hint="run `modellock sync` to fetch them again; nothing was signed",
            )
        if not ranges:
            empty.append(f.path)
        resources += shard_resources(f.path, ranges, serialization)
    if not resources:
        raise UsageError(f"{model.name}: every locked file is empty; sign with --serialization files")
    payload, digest = build_statement(model.repo.rsplit("/", 1)[-1], resources, serialization)
    signed = SignedModel(model.name, str(signature), len(files), len(resources), digest, serialization.method,
                         serialization.hash_type, tuple(empty))  # fmt: skip
    return signature, payload, signed


def sign_targets(
    targets: list[str], lock: Lockfile | None, store: Store | None, maker: BundleMaker, options: SignOptions,
    project_dir: Path,
) -> SignResult:  # fmt: skip
    """Build every statement and bundle, then write each signature; nothing is written if any fails."""
    if options.signature is not None and len(targets) != 1:
        raise UsageError("--signature names one file: sign one model at a time with it")
    prepared = []
    for target in targets:
        model = lock.get(target) if lock is not None and "/" not in target and not target.startswith(".") else None
        if model is not None:
            assert store is not None
            prepared.append(prepare_locked(model, store, options, project_dir))
        elif Path(target).exists() or Path(target).is_symlink():
            prepared.append(prepare_directory(Path(target), options))
        else:
            raise UsageError(
                f"{target} is neither a locked model nor a path",
                hint="name a model in modellock.lock (run `modellock lock` first) or a model directory",
            )
    destinations = [p[0].absolute() for p in prepared]
    if len(set(destinations)) != len(destinations):
        raise UsageError("two targets would write the same signature file")
    for destination in destinations:
        refuse_symlink(destination)
    bundles = [maker.bundle(payload) for _, payload, _ in prepared]
    for (destination, _, _), bundle in zip(prepared, bundles, strict=True):
        atomic.write_text(destination, bundle.decode())
    return SignResult(tuple(p[2] for p in prepared))
