"""`modellock lock`: resolve each manifest entry to a commit, fetch and hash its files, write the lock."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from modellock.errors import ModellockError, RevisionNotFound, UsageError
from modellock.gate.enforce import gate_files
from modellock.ops.check import manifest_differences
from modellock.ops.fetch import DEFAULT_WORKERS, FetchJob, fetch_all
from modellock.ops.gatefacts import labelled
from modellock.ops.hubflags import refuse_flagged
from modellock.ops.lineage import declarations_of, link
from modellock.ops.progress import Progress
from modellock.ops.project import pickle_duplicates, write_lock
from modellock.ops.reach import refuse_unpublished, requested_commit_problem
from modellock.ops.signatures import SignatureReport, TrustSource, attest_for_lock, signature_path
from modellock.project.card import LockedCard, from_card_data
from modellock.project.lockfile import LockedFile, LockedModel, Lockfile, content_digest, seal_of
from modellock.project.lockread import read_lock
from modellock.project.manifest import Manifest, ModelSpec
from modellock.project.paths import check_repo_paths, select
from modellock.sources import RemoteFile, RepoRef, Source, open_source
from modellock.store.blobs import Store

ChangeKind = Literal["added", "updated", "removed", "unchanged"]


@dataclass(frozen=True)
class ModelChange:
    """What locking did to one model."""

    name: str
    kind: ChangeKind
    requested: str
    old_commit: str | None
    new_commit: str | None
    files: int
    size: int
    files_changed: bool = False
    """True when the commit stayed but the file selection changed."""
    repaired: bool = False
    """The old entry failed its seal or disagreed with the manifest, so it was resolved afresh."""


@dataclass(frozen=True)
class LockResult:
    """The outcome of one `lock` run."""

    changes: tuple[ModelChange, ...]
    written: bool
    dry_run: bool
    downloaded_files: int
    downloaded_bytes: int
    elapsed: float
    auto_excluded: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    """Per model: exclude globs added for pickle copies of safetensors weights, and the files they drop."""
    signatures: tuple[SignatureReport, ...] = ()
    warnings: tuple[str, ...] = ()
    linked: tuple[tuple[str, str, str, str], ...] = ()
    """New lineage edges, as (model, base, relation, base commit): made in this run, not kept from the old lock."""


@dataclass(frozen=True)
class _Plan:
    spec: ModelSpec
    commit: str
    files: tuple[RemoteFile, ...]
    auto_excluded: tuple[list[str], list[str]] | None = None
    repo_paths: tuple[str, ...] = ()
    signature: RemoteFile | None = None


def _trusted(spec: ModelSpec, old: LockedModel | None, version: int, project_dir: Path) -> bool:
    """An old entry we may build on: sealed, whole, and saying what the manifest says."""
    return (
        old is not None
        and old.seal == seal_of(old, version)
        and old.digest == content_digest(old.files)
        and requested_commit_problem(old.requested, old.commit) is None
        # A changed manifest entry explains any difference; an unchanged one must agree field by field.
        and (old.fingerprint != spec.fingerprint() or not manifest_differences(old, spec, project_dir))
    )


def _needs_resolving(spec: ModelSpec, old: LockedModel | None, upgrade: bool) -> bool:
    return upgrade or old is None or old.fingerprint != spec.fingerprint()


def _plan(
    spec: ModelSpec, old: LockedModel | None, upgrade: bool, source: Source, exclude_pickle_copies: bool = False
) -> _Plan:
    ref = RepoRef(spec.repo, spec.repo_type)
    same_origin = old is not None and (old.repo, old.repo_type, old.requested) == (
        spec.repo,
        spec.repo_type,
        spec.revision,
    )
    # Sticky: a changed include list or path keeps the locked commit, like Cargo keeps a git rev.
    sticky = same_origin and old is not None and not upgrade
    if sticky and old is not None:
        commit = old.commit
    else:
        try:
            commit = source.resolve(ref, spec.revision)
        except RevisionNotFound as exc:
            # The Hub's words name the repository; the user edits the manifest entry, so name that too.
            raise RevisionNotFound(f"model `{spec.name}`: {exc.message}", hint=exc.hint) from None
        refuse_unpublished(spec, ref, commit, source)
    listed = source.list_files(ref, commit, scans=True)
    check_repo_paths(spec.repo, [f.path for f in listed])
    chosen = set(select([f.path for f in listed], spec.include, spec.exclude))
    auto_excluded = None
    if exclude_pickle_copies and spec.policy.pickle == "deny":
        patterns, dropped = pickle_duplicates(sorted(chosen))
        if patterns:
            spec = replace(spec, exclude=(*spec.exclude, *patterns))
            chosen -= set(dropped)
            auto_excluded = (patterns, dropped)
    if not chosen:
        raise ModellockError(
            f"model `{spec.name}`: include/exclude select none of the {len(listed)} files in {spec.repo}@{commit[:7]}",
            hint="check the patterns in modellock.toml (a pattern without `/` matches at any depth)",
        )
    refuse_flagged(spec, commit, (f for f in listed if f.path in chosen))
    paths = tuple(f.path for f in listed)
    sig_path = signature_path(spec, paths)
    signature = next((f for f in listed if f.path == sig_path), None)
    return _Plan(spec, commit, tuple(f for f in listed if f.path in chosen), auto_excluded, paths, signature)


def _vouched(store: Store, file: RemoteFile, blake3: str, sha256: str) -> bool:
    """The store's blob `blake3` really is the listed file: its SHA-256 as modellock computed it is
    `sha256`, and that is the Hub's LFS SHA-256, or its git blob id is the Hub's."""
    if store.sha256_of(blake3, file.size) != sha256:
        return False
    if file.lfs_sha256:
        return sha256 == file.lfs_sha256
    return store.git_sha1_of(blake3, file.size) == file.git_oid


def _known_digest(file: RemoteFile, old: LockedModel | None, commit: str, store: Store) -> LockedFile | None:
    """Digests of a file whose bytes are already in the store (the gate scans them there), checked
    against the listing: neither an old entry nor the store's index is believed on its word."""
    if not file.lfs_sha256 and not file.git_oid:  # an S3 object: no listed digest, but a version never changes
        return _same_version(file, old, store)
    if old is not None and old.commit == commit:
        for locked in old.files:
            if (
                locked.path == file.path
                and locked.size == file.size
                and _vouched(store, file, locked.blake3, locked.sha256)
            ):
                return locked
    hit = (
        store.lookup("sha256", file.lfs_sha256, file.size)
        if file.lfs_sha256
        else store.lookup("git-sha1", file.git_oid, file.size)
    )
    if hit is None or not _vouched(store, file, hit.blake3, hit.sha256):
        return None
    return LockedFile(file.path, hit.size, hit.blake3, hit.sha256)


def _same_version(file: RemoteFile, old: LockedModel | None, store: Store) -> LockedFile | None:
    """The old entry's digests of this very object version, where the store holds those bytes."""
    if old is None or not file.version_id:
        return None
    for locked in old.files:
        same = (locked.path, locked.size, locked.version_id, locked.etag)
        if same == (file.path, file.size, file.version_id, file.etag) and store.has(locked.blake3, locked.size):
            return locked
    return None


def _card(source: Source, spec: ModelSpec, commit: str) -> LockedCard | None:
    """The card's licence, task and datasets at `commit` (the answer lineage reads too; the store keeps it).

    `bases = "ignore"` promises no card request, so such a model records no card facts.
    """
    if spec.repo_type != "model" or spec.bases == "ignore":
        return None
    return from_card_data(source.lineage(RepoRef(spec.repo, spec.repo_type), commit).card)


def lock_project(
    manifest: Manifest,
    store: Store,
    *,
    upgrade_all: bool = False,
    upgrade: Collection[str] = (),
    dry_run: bool = False,
    progress: Progress | None = None,
    workers: int = DEFAULT_WORKERS,
    source_factory: Callable[[str], Source] | None = None,
    exclude_pickle_copies: str | None = None,
    trust: TrustSource | None = None,
    accept_new_signer: bool = False,
    allow_unsigned: bool = False,
    with_bases: bool = False,
    with_dependents: bool = False,
) -> LockResult:
    """Bring the lock in line with the manifest; sticky unless asked to upgrade.

    `with_bases`: every declared parent not in the lock stops it (`UnlockedBase`, which the caller
    answers by adding them); `with_dependents`: stale lineage edges of kept models are re-made.
    """
    with store.held():  # `cache prune` waits until the blobs fetched here are in a registered lock
        started = time.monotonic()
        unknown = sorted(set(upgrade) - set(manifest.models))
        if unknown:
            raise UsageError(f"--upgrade-model names a model not in the manifest: {', '.join(unknown)}")
        existing = read_lock(manifest.lock_path) or Lockfile()
        sources: dict[str, Source] = {}

        def source_for(name: str) -> Source:
            if name not in sources:
                factory = source_factory or (
                    lambda n: open_source(
                        n,
                        endpoint=manifest.settings.endpoint,
                        project_dir=manifest.path.parent,
                        s3_endpoint=manifest.settings.s3_endpoint,
                    )
                )
                sources[name] = factory(name)
            return sources[name]

        kept: dict[str, LockedModel] = {}
        plans: list[_Plan] = []
        repaired: set[str] = set()
        trusted: dict[str, LockedModel] = {}
        for spec in manifest.models.values():
            old = existing.get(spec.name)
            if old is not None and not _trusted(spec, old, existing.version, manifest.path.parent):
                # Nothing in an entry that fails its seal is believed: no sticky commit, no digests.
                repaired.add(spec.name)
            elif old is not None:
                trusted[spec.name] = old
            old = trusted.get(spec.name)
            wants_upgrade = upgrade_all or spec.name in upgrade
            if old is not None and not _needs_resolving(spec, old, wants_upgrade):
                kept[spec.name] = old
            else:
                plans.append(
                    _plan(spec, old, wants_upgrade, source_for(spec.source), spec.name == exclude_pickle_copies)
                )

        jobs: list[tuple[ModelSpec, FetchJob]] = []
        known: dict[tuple[str, str], LockedFile] = {}
        for p in plans:
            old = trusted.get(p.spec.name)
            for file in (*p.files, *([p.signature] if p.signature and p.signature not in p.files else [])):
                digest = _known_digest(file, old, p.commit, store)
                if digest is not None:
                    known[(p.spec.name, file.path)] = digest
                else:
                    jobs.append((p.spec, FetchJob(RepoRef(p.spec.repo, p.spec.repo_type), p.commit, file)))

        downloaded = 0
        if not dry_run:
            for source_name in sorted({spec.source for spec, _ in jobs}):
                group = [(spec, job) for spec, job in jobs if spec.source == source_name]
                digests = fetch_all(
                    source_for(source_name), store, [job for _, job in group], workers=workers, progress=progress
                )
                for (spec, job), d in zip(group, digests, strict=True):
                    known[(spec.name, job.file.path)] = LockedFile(job.file.path, d.size, d.blake3, d.sha256)
                    downloaded += d.size

        changes: list[ModelChange] = []
        reports: list[SignatureReport] = []
        new_models: list[LockedModel] = list(kept.values())
        for name, old in kept.items():
            changes.append(
                ModelChange(name, "unchanged", old.requested, old.commit, old.commit, len(old.files), old.size)
            )
        for p in plans:
            old = existing.get(p.spec.name)  # for the report only: what is trusted is `trusted`
            size = sum(f.size for f in p.files)
            if not dry_run:
                entries = [known[(p.spec.name, f.path)] for f in p.files]
                scans = gate_files(p.spec.name, p.spec.policy, [(d.path, store.blob_path(d.blake3)) for d in entries])
                hub = {f.path: f.hub_scan.render() for f in p.files if f.hub_scan is not None}
                pins = {f.path: (f.version_id, f.etag) for f in p.files}  # an S3 object's, else empty
                files = tuple(
                    replace(labelled(d, scans[d.path]), hub_scan=hub.get(d.path, ""), version_id=pins[d.path][0],
                            etag=pins[d.path][1])
                    for d in entries
                )  # fmt: skip
                signature, report = attest_for_lock(
                    p.spec,
                    trusted.get(p.spec.name),  # an entry that failed its seal names no previous signer
                    list(files),
                    known[(p.spec.name, p.signature.path)] if p.signature else None,
                    p.repo_paths,
                    store,
                    trust or TrustSource(None, online=True),
                    manifest.path.parent,
                    accept_new_signer=accept_new_signer,
                    allow_unsigned=allow_unsigned,
                    discarded=p.spec.name in repaired and old is not None and old.signature is not None,
                )
                if report is not None:
                    reports.append(report)
                model = LockedModel(
                    name=p.spec.name,
                    source=p.spec.source,
                    repo=p.spec.repo,
                    repo_type=p.spec.repo_type,
                    install_path=p.spec.install_path,
                    layout=p.spec.layout,
                    policy=p.spec.policy,
                    requested=p.spec.revision,
                    commit=p.commit,
                    fingerprint=p.spec.fingerprint(),
                    files=files,
                    signature=signature,
                    card=_card(source_for(p.spec.source), p.spec, p.commit),
                )
                new_models.append(model)
            if old is None:
                kind: ChangeKind = "added"
                files_changed = False
            else:
                files_changed = {f.path for f in old.files} != {f.path for f in p.files}
                same = (
                    old.commit == p.commit
                    and not files_changed
                    and (old.install_path, old.layout) == (p.spec.install_path, p.spec.layout)
                )
                kind = "unchanged" if same and p.spec.name not in repaired else "updated"
            changes.append(
                ModelChange(
                    p.spec.name,
                    kind,
                    p.spec.revision,
                    old.commit if old else None,
                    p.commit,
                    len(p.files),
                    size,
                    files_changed,
                    repaired=p.spec.name in repaired,
                )
            )
        for old in existing.models:
            if old.name not in manifest.models:
                changes.append(
                    ModelChange(old.name, "removed", old.requested, old.commit, None, len(old.files), old.size)
                )

        lineage_warnings: tuple[str, ...] = ()
        made: list[tuple[str, str, str, str]] = []
        if not dry_run:
            resolved = {p.spec.name for p in plans}
            # Kept entries declare what their edges say, with no network; `--with-bases` asks for the
            # parents they declare and the lock lacks (one under `warn` left no edge), so it reads them again.
            fresh = {
                m.name: declarations_of(m, manifest.models[m.name], source_for(m.source), store)
                for m in new_models
                if m.name in resolved or (with_bases and all(store.has(f.blake3, f.size) for f in m.files))
            }
            linked = link(
                new_models,
                manifest.models,
                fresh,
                resolved=resolved,
                revalidate=with_dependents or upgrade_all,
                with_bases=with_bases,
                resolve=lambda parent, rev: source_for(parent.source).resolve(
                    RepoRef(parent.repo, parent.repo_type), rev
                ),
            )
            new_models, lineage_warnings = list(linked.models), linked.warnings
            for m in new_models:
                before = existing.get(m.name)
                for e in m.bases:
                    if before is None or e not in before.bases:
                        made.append((m.name, e.model, e.relation, e.commit))

        written = False
        if not dry_run:
            written = write_lock(manifest.lock_path, Lockfile(models=tuple(new_models)))
            store.register_lock(manifest.lock_path)
        return LockResult(
            changes=tuple(sorted(changes, key=lambda c: c.name)),
            written=written,
            dry_run=dry_run,
            downloaded_files=len(jobs) if not dry_run else 0,
            downloaded_bytes=downloaded,
            elapsed=time.monotonic() - started,
            auto_excluded={p.spec.name: p.auto_excluded for p in plans if p.auto_excluded},
            signatures=tuple(reports),
            warnings=(*(trust.warnings if trust else ()), *lineage_warnings),
            linked=tuple(made),
        )
