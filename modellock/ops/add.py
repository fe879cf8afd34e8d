"""`modellock add`: a manifest entry and its lock, together or not at all (like `uv add`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from modellock.errors import UsageError
from modellock.ops.context import open_project, source_factory, trust_source
from modellock.ops.lock import LockResult, lock_project
from modellock.ops.progress import Progress
from modellock.ops.project import RepoSpec, add_model, init_manifest, restored_on_failure
from modellock.ops.withbases import lock_and_maybe_bases
from modellock.project.discover import LOCK_NAME, MANIFEST_NAME


@dataclass(frozen=True)
class AddRequest:
    """What to add: the repository and the manifest keys the user chose."""

    spec: RepoSpec
    name: str | None = None
    revision: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    layout: str | None = None
    path: str | None = None
    pickle: str | None = None
    repo_type: str | None = None
    with_bases: bool = False
    """Also add (and lock) the base models it declares, following chains."""
    public_key: Path | None = None
    """Pin the signer's public key (PEM), for bundles made by `model_signing sign key`."""
    identity: str | None = None
    """Pin the Sigstore signer: the certificate's identity, with `issuer`."""
    issuer: str | None = None
    certificate_chain: Path | None = None
    """Pin the root certificates (PEM) a `model_signing sign certificate` chain must lead to."""


@dataclass(frozen=True)
class AddResult:
    """The model added, its lock run, and pickle copies excluded because safetensors weights exist."""

    name: str
    lock: LockResult
    excluded: tuple[str, ...] = ()
    bases_added: tuple[tuple[str, str], ...] = ()
    """(manifest name, repository) of each base `--with-bases` added."""


def add_and_lock(
    project_dir: Path, request: AddRequest, *, trusted_root: Path | None = None, progress: Progress | None = None
) -> AddResult:
    """Add the model to the manifest and lock it; on any failure both files are put back as they were."""
    manifest_path, lock_path = project_dir / MANIFEST_NAME, project_dir / LOCK_NAME
    spec = replace(request.spec, repo_type=request.repo_type) if request.repo_type else request.spec
    with restored_on_failure(manifest_path, lock_path):
        if not manifest_path.exists():
            init_manifest(project_dir)
        added = _write_entry(manifest_path, spec, request, request.name, request.exclude)
        project = open_project(manifest_path)
        store = project.store
        done = lock_and_maybe_bases(
            project.manifest,
            request.with_bases,
            lambda manifest: lock_project(
                manifest,
                store,
                progress=progress,
                exclude_pickle_copies=added,
                trust=trust_source(manifest, trusted_root, online=True),
                source_factory=source_factory(manifest, store),
                with_bases=request.with_bases,
            ),
            adding=spec,
        )
        result = done.result
        patterns, files = result.auto_excluded.get(added, ([], []))
        if patterns:
            _write_entry(manifest_path, spec, request, added, (*request.exclude, *patterns), replace=True)
    return AddResult(added, result, tuple(files), done.added)


def signature_pin(request: AddRequest, project_dir: Path) -> dict[str, str] | None:
    """The manifest's `signature` table for the pin the flags ask for; files relative to the manifest."""
    if (request.identity is None) != (request.issuer is None):
        raise UsageError("--identity and --issuer go together", hint="give both (the issuer is the OIDC provider)")
    chosen = [
        ("public-key", request.public_key),
        ("identity", request.identity),
        ("certificate-chain", request.certificate_chain),
    ]
    given = [(key, value) for key, value in chosen if value is not None]
    if len(given) > 1:
        raise UsageError("choose one signer pin: --public-key, --identity/--issuer or --certificate-chain")
    if not given:
        return None
    key, value = given[0]
    if key == "identity":
        assert request.issuer is not None
        return {"identity": str(value), "issuer": request.issuer}
    path = Path(value).absolute()  # type: ignore[arg-type]
    if not path.is_file():
        raise UsageError(f"--{key}: {value} is not a file")
    try:
        shown = path.relative_to(project_dir.absolute()).as_posix()  # the project moves with its pin
    except ValueError:
        shown = str(path)
    return {key: shown}


def _write_entry(
    manifest_path: Path,
    spec: RepoSpec,
    request: AddRequest,
    name: str | None,
    exclude: tuple[str, ...],
    *,
    replace: bool = False,
) -> str:
    return add_model(
        manifest_path,
        spec,
        name=name,
        revision=request.revision,
        include=list(request.include),
        exclude=list(exclude),
        replace=replace,
        layout=request.layout,
        path=request.path,
        pickle=request.pickle,
        signature=signature_pin(request, manifest_path.parent),
    )


def add_without_lock(project_dir: Path, request: AddRequest) -> str:
    """`add --no-lock` (uv's habit): only the manifest entry; the next `lock` or `sync` resolves it."""
    from modellock.errors import UsageError

    if request.with_bases:
        raise UsageError("--with-bases finds the bases by locking, so it cannot be combined with --no-lock")
    manifest_path = project_dir / MANIFEST_NAME
    spec = replace(request.spec, repo_type=request.repo_type) if request.repo_type else request.spec
    with restored_on_failure(manifest_path, project_dir / LOCK_NAME):
        if not manifest_path.exists():
            init_manifest(project_dir)
        return _write_entry(manifest_path, spec, request, request.name, request.exclude)
