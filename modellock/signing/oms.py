"""OpenSSF Model Signing statements: parse the signed manifest and compare it with a locked model."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from modellock import jsonread
from modellock.errors import SignatureError
from modellock.project.paths import unsafe_reason

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
_DIGEST_ALGORITHMS = ("sha256", "blake3", "blake2b")


class SignatureInvalid(SignatureError):
    """The signature, its statement or the files it covers do not check out."""


@dataclass(frozen=True)
class Resource:
    """One signed file (or, for sharded manifests, one byte range of a file)."""

    path: str
    algorithm: str
    digest: str
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class SignedManifest:
    """What the statement signs: its resources and the paths the signer ignored."""

    resources: tuple[Resource, ...]
    ignore_paths: tuple[str, ...]
    method: str = "files"
    """`files` or `shards`; shard serialization leaves zero-byte files out (OMS §6.3.2)."""
    shard_size: int | None = None
    root_digest: str = ""
    """The statement's subject: SHA-256 over the concatenated resource digests (OMS v1.0), hex, already checked."""

    def paths(self) -> set[str]:
        return {r.path for r in self.resources}


def parse_statement(payload_type: str, payload: bytes, where: str) -> SignedManifest:
    """Check the DSSE payload type, the in-toto statement and the subject digest; return the manifest."""
    if payload_type != PAYLOAD_TYPE:
        raise SignatureInvalid(f"{where}: payload type is {payload_type!r}, not an in-toto statement")
    try:
        statement = jsonread.loads(payload, "the statement")
        if statement["_type"] != STATEMENT_TYPE:
            raise SignatureInvalid(f"{where}: not an in-toto v1 statement")
        if statement["predicateType"] != PREDICATE_TYPE:
            raise SignatureInvalid(
                f"{where}: predicate type {statement['predicateType']!r} is not {PREDICATE_TYPE} "
                "(legacy signatures are not supported)"
            )
        subjects = statement["subject"]
        predicate = statement["predicate"]
        serialization = predicate.get("serialization", {})
        raw = predicate["resources"]
        # JSON of the wrong shape must be refused here, not fail later in `.get` or iteration.
        if not (isinstance(serialization, dict) and isinstance(raw, list) and all(isinstance(r, dict) for r in raw)):
            raise TypeError("serialization must be an object and resources a list of objects")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SignatureInvalid(f"{where}: malformed model-signing statement ({exc})") from None
    if not isinstance(subjects, list) or len(subjects) != 1:
        raise SignatureInvalid(f"{where}: the statement must have exactly one subject")
    if not raw:
        raise SignatureInvalid(f"{where}: the statement signs no files (OMS §5.2.1: at least one resource)")
    method = serialization.get("method", "files")
    if method not in ("files", "shards"):
        raise SignatureInvalid(f"{where}: unknown serialization method {method!r}")
    hash_type = serialization.get("hash_type")
    if hash_type is not None and hash_type not in _DIGEST_ALGORITHMS:
        raise SignatureInvalid(f"{where}: unsupported hash type {hash_type!r}")
    shard_size = _shard_size(serialization.get("shard_size"), where) if method == "shards" else None
    resources = []
    concatenated = hashlib.sha256()
    for item in raw:
        name, algorithm, digest = item.get("name"), item.get("algorithm"), item.get("digest")
        if not all(isinstance(v, str) for v in (name, algorithm, digest)):
            raise SignatureInvalid(f"{where}: a resource lacks name, algorithm or digest")
        try:
            concatenated.update(bytes.fromhex(digest))
        except ValueError:
            raise SignatureInvalid(f"{where}: resource {name!r} has a non-hex digest") from None
        resource = _resource(name, algorithm, digest.lower(), shard_size, where)
        if hash_type is not None and resource.algorithm != hash_type:
            raise SignatureInvalid(f"{where}: resource {name!r} uses {resource.algorithm}, the statement {hash_type}")
        resources.append(resource)
    digests = subjects[0].get("digest") if isinstance(subjects[0], dict) else None
    expected = digests.get("sha256") if isinstance(digests, dict) else None
    if expected != concatenated.hexdigest():
        raise SignatureInvalid(f"{where}: the subject digest does not match the signed resources")
    ignores = serialization.get("ignore_paths", [])
    if not isinstance(ignores, list) or not all(isinstance(p, str) for p in ignores):
        raise SignatureInvalid(f"{where}: ignore_paths must be a list of paths")
    return SignedManifest(
        tuple(resources), tuple(p.rstrip("/") for p in ignores), method, shard_size, concatenated.hexdigest()
    )


def _shard_size(value: object, where: str) -> int:
    # model_signing writes it through a protobuf Struct, so as a float (`5.0`); the spec says integer.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value <= 0:
        raise SignatureInvalid(f"{where}: shard serialization needs a positive integer shard_size, not {value!r}")
    return int(value)


def _resource(name: str, algorithm: str, digest: str, shard_size: int | None, where: str) -> Resource:
    """One resource; under shard serialization its name is `path:start:end` (OMS §6.3.2).

    The spec names a shard's algorithm by the hash type (`sha256`); model_signing 1.x writes
    `sha256-sharded-<shard_size>`. Both are read; only the hash itself is kept.
    """
    start = end = None
    base, sharded, size = algorithm.partition("-sharded-")
    if sharded and (shard_size is None or size != str(shard_size)):
        raise SignatureInvalid(f"{where}: resource {name!r} is a shard ({algorithm}) outside shard serialization")
    if shard_size is not None:
        # The last two colon-separated integers are the range: a path may itself hold colons.
        try:
            name, first, last = name.rsplit(":", 2)
            start, end = int(first), int(last)
        except ValueError:
            raise SignatureInvalid(f"{where}: malformed shard name {name!r}") from None
        if not 0 <= start < end:
            raise SignatureInvalid(f"{where}: shard {name}:{start}:{end} is an empty or reversed range")
    algorithm = base
    if algorithm not in _DIGEST_ALGORITHMS:
        raise SignatureInvalid(f"{where}: resource {name!r} uses unsupported digest {algorithm!r}")
    reason = unsafe_reason(name)
    if reason:
        raise SignatureInvalid(f"{where}: signed path {name!r} is unsafe: {reason}")
    return Resource(name, algorithm, digest, start, end)


def _shard_gap(signed: list[Resource], size: int, shard_size: int | None = None) -> str | None:
    """Why the resources for one file do not cover it exactly once, byte 0 to its end; None if they do."""
    whole = [r for r in signed if r.start is None]
    shards = sorted((r for r in signed if r.start is not None), key=lambda r: r.start or 0)
    if whole and shards:
        return "signed both whole and in shards"
    if len(whole) > 1:
        return "signed more than once"
    position = 0
    for shard in shards:
        assert shard.start is not None and shard.end is not None
        if shard.start != position or shard.end <= shard.start:
            kind = "a gap" if shard.start > position else "an overlap"
            return f"the signed shards leave {kind} at byte {position}"
        position = shard.end
    if shards and position != size:
        return f"the signed shards end at byte {position}, the file has {size} bytes"
    # Contiguous from 0 to the end, so a whole partition; OMS §6.3.2 also fixes every shard but the last.
    if shard_size is not None and any(r.end != min((r.start or 0) + shard_size, size) for r in shards):
        return f"the signed shards are not the {shard_size}-byte shards the statement declares"
    return None


def ignored(path: str, ignores: Collection[str]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in ignores)


@dataclass(frozen=True)
class Coverage:
    """How the signature relates to the locked files."""

    covered: int
    """Files the signature covers."""
    signed_not_installed: tuple[str, ...]
    unsigned_empty: tuple[str, ...] = ()
    """Zero-byte locked files a shard-mode signature cannot name: the lock's digests alone vouch for them."""


def compare(
    manifest: SignedManifest,
    *,
    selected: Mapping[str, Mapping[str, str]],
    signature_path: str,
    repo_paths: Collection[str] | None,
    digest_of: Callable[[str, str, int | None, int | None], str],
    where: str,
) -> Coverage:
    """Every selected file covered with matching digests; the signed set equal to the repo at the commit.

    `selected` maps each locked path to the digests the lock already holds (`sha256`, `blake3`) and
    its `size`, so shards must cover every byte;
    `digest_of(path, algorithm, start, end)` computes any other digest from the locked bytes.
    `repo_paths` is the repository's file list at the commit, or None where it is not known
    (offline re-verification checks only the locked files).
    """
    problems = []
    empty: list[str] = []
    by_path: dict[str, list[Resource]] = {}
    for resource in manifest.resources:
        by_path.setdefault(resource.path, []).append(resource)
    ignores = (*manifest.ignore_paths, signature_path)
    for path, known in sorted(selected.items()):
        if ignored(path, ignores):
            continue
        signed = by_path.get(path)
        if not signed and manifest.method == "shards" and known.get("size") == "0":
            # model-transparency #653: shard mode cannot sign an empty file. The lock still names it
            # (path, size 0, digests, sealed), so it is installed as locked, and reported.
            empty.append(path)
            continue
        if not signed:
            problems.append(f"{path} is locked but the signature does not cover it")
            continue
        gap = _shard_gap(signed, int(known["size"]), manifest.shard_size) if "size" in known else None
        if gap:
            problems.append(f"{path}: {gap}")
            continue
        for resource in signed:
            if resource.start is None and resource.algorithm in known:
                actual = known[resource.algorithm]
            else:
                actual = digest_of(path, resource.algorithm, resource.start, resource.end)
            if actual != resource.digest:
                problems.append(f"{path}: {resource.algorithm} digest differs from the signed one")
    if repo_paths is not None:
        present = {p for p in repo_paths if not ignored(p, ignores)}
        signed_paths = manifest.paths()
        for path in sorted(signed_paths - present):
            problems.append(f"{path} is signed but not in the repository at this commit")
        for path in sorted(present - signed_paths - set(empty)):
            problems.append(f"{path} is in the repository but not covered by the signature")
    if problems:
        raise SignatureInvalid(
            f"{where}: the signature does not match the files:\n" + "\n".join(f"  - {p}" for p in problems[:20]),
            hint="the files differ from what the signer signed (renamed, swapped or modified); nothing was written",
        )
    not_installed = tuple(sorted(manifest.paths() - set(selected)))
    return Coverage(len(manifest.paths()), not_installed, tuple(empty))
