"""Verify an OMS signature against a model directory on disk (OMS §8): the bundle, then every file.

The lock flow verifies against the locked files instead (`oms.compare` through `ops.signatures`);
this is the same comparison over what `directory.enumerate_model` finds, for `sign`'s own check
and for the OMS conformance vectors.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from modellock.signing.bundle import Attestation, Signer, verify_bundle
from modellock.signing.directory import DEFAULT_IGNORES, enumerate_model, hash_ranges
from modellock.signing.oms import Coverage, compare, parse_statement
from modellock.signing.trust import TrustRoot


def verify_directory(
    raw: bytes,
    signer: Signer,
    trust: TrustRoot | None,
    root: Path,
    *,
    signature_name: str = "model.sig",
    ignore_paths: tuple[str, ...] = (),
) -> tuple[Attestation, Coverage]:
    """The bundle verified for `signer`, and every file under `root` matching it; SignatureInvalid otherwise.

    `ignore_paths` are the verifier's own exclusions (`--ignore-paths` of model_signing verify), added to those the
    statement records: bundles before model_signing 1.1 record none (OMS §11.2).
    """
    where = f"{root}: {signature_name}"
    attestation = verify_bundle(raw, signer, trust, where)
    manifest = parse_statement(attestation.payload_type, attestation.payload, where)
    if ignore_paths:
        manifest = replace(manifest, ignore_paths=(*manifest.ignore_paths, *ignore_paths))
    files = {f.name: f for f in enumerate_model(root, (*DEFAULT_IGNORES, *manifest.ignore_paths, signature_name))}

    def digest_of(path: str, algorithm: str, start: int | None, end: int | None) -> str:
        f = files[path]
        if start is None:
            return hash_ranges(f.path, f.size, algorithm, None)[0][2]
        assert end is not None
        return _range_digest(f.path, algorithm, start, end)

    coverage = compare(
        manifest,
        selected={name: {"size": str(f.size)} for name, f in files.items()},
        signature_path=signature_name,
        repo_paths=list(files),
        digest_of=digest_of,
        where=where,
    )
    return attestation, coverage


def _range_digest(path: Path, algorithm: str, start: int, end: int) -> str:
    import hashlib
    import os

    import blake3

    hasher = blake3.blake3() if algorithm == "blake3" else hashlib.new(algorithm)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with open(fd, "rb") as f:
        f.seek(start)
        remaining = end - start
        while remaining > 0:  # in pieces: a shard is 1 GB by default
            chunk = f.read(min(remaining, 8 << 20))
            if not chunk:
                break
            hasher.update(chunk)
            remaining -= len(chunk)
    return str(hasher.hexdigest())
