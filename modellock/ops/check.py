"""`modellock lock --check`: offline proof that the lock is intact and matches the manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modellock.ops.edgecheck import edge_problems
from modellock.ops.reach import requested_commit_problem
from modellock.project.lockfile import LockedModel, Lockfile, content_digest
from modellock.project.lockread import loads_checked
from modellock.project.manifest import Manifest, ModelSpec
from modellock.project.paths import Claim, claims_problem
from modellock.project.tomlread import bad_utf8


@dataclass(frozen=True)
class Problem:
    """One reason the lock cannot be trusted as it stands."""

    model: str | None
    message: str


@dataclass(frozen=True)
class CheckResult:
    """What `lock --check` found; `ok` when nothing."""

    problems: tuple[Problem, ...]
    models: int
    files: int
    lock: Lockfile | None = None
    """The lock as read (None if there is none), so callers act on exactly what was checked."""

    @property
    def ok(self) -> bool:
        return not self.problems


def model_claim(model: LockedModel) -> Claim:
    shared = (model.repo_type, model.repo, model.commit) if model.layout == "hf-cache" else None
    return Claim(model.name, model.install_path, shared)


def manifest_differences(model: LockedModel, spec: ModelSpec, project_dir: Path) -> list[str]:
    """Fields of the lock entry that say something other than the manifest entry they came from."""
    pairs = [
        ("source", model.source, spec.source),
        ("repo", model.repo, spec.repo),
        ("repo-type", model.repo_type, spec.repo_type),
        ("path", model.install_path, spec.install_path),
        ("layout", model.layout, spec.layout),
        ("requested", model.requested, spec.revision),
        ("policy", model.policy.as_dict(), spec.policy.as_dict()),
    ]
    found = [f"`{key}` is {locked!r} in the lock but {wanted!r} in the manifest" for key, locked, wanted in pairs
             if locked != wanted]  # fmt: skip
    signature = model.signature
    if signature is None and (spec.require_signature or spec.signature is not None):
        why = "requires a signature" if spec.require_signature else "configures a signature"
        found.append(f"the manifest {why} and the lock records none")
    config = spec.signature
    if signature is not None:
        from modellock.ops.signatures import DEFAULT_SIGNATURE

        expected = config.path if config is not None and config.path is not None else DEFAULT_SIGNATURE
        if signature.path != expected:
            found.append(f"the lock records the signature at {signature.path!r}, the manifest's is {expected!r}")
        if config is None and signature.mode != "sigstore":
            # `lock` trusts only a Sigstore signer on first use: a key or a chain must be pinned to count.
            pin = "public key" if signature.mode == "key" else "certificate chain"
            found.append(
                f"the lock records a {signature.mode}-mode signature, and the manifest pins no {pin} "
                "(`lock` trusts only a Sigstore signer on first use)"
            )
    if signature is not None and config is not None:
        if config.mode != signature.mode:
            found.append(f"the lock records a {signature.mode}-mode signature, the manifest asks for {config.mode}")
        elif config.identity is not None and (signature.identity, signature.issuer) != (config.identity, config.issuer):
            found.append(
                f"the lock records signer {signature.identity} ({signature.issuer}), "
                f"the manifest pins {config.identity} ({config.issuer})"
            )
        elif config.public_key is not None and signature.public_key != _manifest_key(project_dir, config.public_key):
            found.append("the lock records another public key than the manifest's")
    found.extend(_flag_problems(model, spec))
    return found


def _flag_problems(model: LockedModel, spec: ModelSpec) -> list[str]:
    """A recorded Hub flag on a file `hub-scan-allow` does not name: `lock` refuses such files, so
    this lock was not written by it (a record copied from the Hub's new verdict hides nothing)."""
    from modellock.project.hubscan import parse

    found = []
    for f in model.files:
        scan = parse(f.hub_scan) if f.hub_scan else None
        if scan is not None and scan.refused and f.path not in spec.hub_scan_allow:
            found.append(
                f"{f.path}: the lock records a Hub scan flag (`{f.hub_scan}`) that the manifest's hub-scan-allow "
                "does not accept; `lock` refuses such files"
            )
    return found


def _manifest_key(project_dir: Path, relative: str) -> str | None:
    """The manifest's public key as the lock records it (base64 DER); None if it cannot be read."""
    import base64

    from modellock.errors import ModellockError
    from modellock.project.smallfile import read_small
    from modellock.signing.bundle import load_public_key

    try:
        key = load_public_key(read_small(project_dir / relative))
    except (OSError, ModellockError):
        return None
    from cryptography.hazmat.primitives import serialization

    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def _lock_problems(lock: Lockfile, manifest: Manifest) -> list[Problem]:
    """Everything that makes a parsed lock disagree with itself or with the manifest."""
    project_dir = manifest.path.parent
    problems: list[Problem] = []
    for model in lock.models:
        if content_digest(model.files) != model.digest:
            problems.append(Problem(model.name, "its file entries do not match its content digest (edited by hand?)"))
        spec = manifest.models.get(model.name)
        if spec is None:
            problems.append(Problem(model.name, "is locked but no longer in the manifest"))
            continue
        if spec.fingerprint() != model.fingerprint:
            problems.append(Problem(model.name, "changed in the manifest since it was locked"))
            continue  # every other difference follows from that one
        problems.extend(Problem(model.name, why) for why in manifest_differences(model, spec, project_dir))
    locked = set(lock.names())
    problems.extend(Problem(n, "is in the manifest but not in the lock") for n in manifest.models if n not in locked)
    clash = claims_problem((model_claim(m) for m in lock.models), project_dir)
    if clash is not None:
        problems.append(Problem(clash[0], f"cannot be installed: {clash[1]}"))
    # A resealed lock can move `commit` while `requested` still says the manifest's hash.
    problems.extend(
        Problem(m.name, why) for m in lock.models if (why := requested_commit_problem(m.requested, m.commit))
    )
    # Offline, from the lock alone: every edge still names its parent's locked commit and file set.
    problems.extend(Problem(name, message) for name, message in edge_problems(lock.models))
    return problems


def check_lock(manifest: Manifest) -> CheckResult:
    """Parse, re-serialise, check the seals and cross-check the lock without network or model bytes."""
    path = manifest.lock_path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return CheckResult((Problem(None, f"{path.name} does not exist; run `modellock lock`"),), 0, 0)
    except UnicodeDecodeError:
        raise bad_utf8(path, "the lock") from None
    read = loads_checked(text, str(path))
    lock = read.lock
    problems: list[Problem] = []
    if not read.canonical:
        problems.append(Problem(None, f"{path.name} is not in canonical form (edited by hand or by a merge?)"))
    for name in read.unsealed:
        model = lock.get(name)
        if lock.version < 2 or not (model and model.seal):
            why = "it has no seal (written by modellock before version 2)"
        else:
            why = "its fields do not match its seal: commit, requested, a file entry or the signature record was edited"
        problems.append(Problem(name, why))
    problems += _lock_problems(lock, manifest)
    return CheckResult(tuple(problems), len(lock.models), sum(len(m.files) for m in lock.models), lock)
