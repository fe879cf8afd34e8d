"""`modellock sync` as a whole: which lock to install (re-locking a stale one), then `sync_lock`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modellock.errors import StaleLock, UsageError
from modellock.ops.check import check_lock
from modellock.ops.context import (
    certificate_roots,
    open_project,
    pull_sources,
    read_lock_to_use,
    registry_setting,
    settings_manifest,
    source_factory,
    store_for,
    trust_source,
)
from modellock.ops.progress import Progress
from modellock.ops.sync import SyncResult, sync_lock
from modellock.project.discover import LOCK_NAME, MANIFEST_NAME
from modellock.store.linking import LinkMode

if TYPE_CHECKING:
    from modellock.ops.lock import LockResult


@dataclass(frozen=True)
class SyncOptions:
    """`sync`'s flags, as the user gave them."""

    locked: bool = False
    frozen: bool = False
    offline: bool = False
    dry_run: bool = False
    check: bool = False
    reinstall: bool = False
    models: tuple[str, ...] = ()
    inexact: bool = False
    force: bool = False
    link_mode: str | None = None
    trusted_root: Path | None = None
    registry: str | None = None
    """`--registry`: pull from this OCI registry before the Hub."""
    from_oci_layout: Path | None = None
    """`--from-oci-layout`: install from this OCI image layout only (air-gapped)."""
    upgrade: bool = False
    """`--upgrade`: re-resolve every model (a new lock) before installing."""


@dataclass(frozen=True)
class InstallOutcome:
    """A sync, and the re-lock that came first when the lock was stale."""

    result: SyncResult
    relocked: LockResult | None = None
    warnings: tuple[str, ...] = ()


def sync_project(project_dir: Path, options: SyncOptions, progress: Progress | None = None) -> InstallOutcome:
    """Install the project's lock. Without --frozen the manifest is the policy: the lock must match it
    (`check_lock`), or is re-locked first unless the flags say not to."""
    o = options
    if o.locked and o.frozen:
        raise UsageError("--locked and --frozen cannot be combined")
    if o.reinstall and (o.dry_run or o.check):
        raise UsageError("--reinstall cannot be combined with --dry-run or --check")
    if o.upgrade and (o.locked or o.frozen or o.offline or o.check):
        raise UsageError("--upgrade re-locks, so it cannot be combined with --locked, --frozen, --offline or --check")
    lock_path = project_dir / LOCK_NAME
    relocked = None
    warnings: tuple[str, ...] = ()
    if o.frozen:
        # The lock is the plan; the manifest's [settings] (store, endpoint, link mode) still say where.
        manifest, warning = settings_manifest(project_dir / MANIFEST_NAME)
        warnings = (warning,) if warning else ()
        store = store_for(manifest)
        roots: dict[str, bytes] = {}
    else:
        project = open_project(project_dir / MANIFEST_NAME)
        manifest, store = project.manifest, project.store
        roots = certificate_roots(manifest)
        stale = check_lock(manifest)
        if o.upgrade or not stale.ok:
            if o.locked or o.offline or o.check:
                problems = "\n".join(f"  - {p.model + ': ' if p.model else ''}{p.message}" for p in stale.problems)
                raise StaleLock(
                    f"the lock is stale or edited:\n{problems}",
                    hint="run `modellock lock` (--locked, --offline and --check do not re-lock)",
                    problems=[(p.model, p.message) for p in stale.problems],
                )
            from modellock.ops.lock import lock_project

            relocked = lock_project(
                manifest,
                store,
                upgrade_all=o.upgrade,
                dry_run=o.dry_run,
                progress=progress,
                trust=trust_source(manifest, o.trusted_root, online=True),
                source_factory=source_factory(manifest, store),
            )
            if o.dry_run:
                # What would be installed is the new lock's, which a dry run does not write: show the re-lock.
                why = "the lock would be re-resolved first (above); run `modellock sync` to lock and install"
                return InstallOutcome(_nothing_planned(), relocked, (*warnings, why))
    mode_name = o.link_mode or (manifest.settings.link_mode if manifest is not None else None)
    if mode_name is not None and mode_name not in {m.value for m in LinkMode}:
        raise UsageError(f"--link-mode must be reflink, hardlink or copy, got {mode_name!r}")
    lock = read_lock_to_use(lock_path)
    endpoint = manifest.settings.endpoint if manifest is not None else None
    s3_endpoint = manifest.settings.s3_endpoint if manifest is not None else None
    if o.registry and o.from_oci_layout:
        raise UsageError("--registry and --from-oci-layout cannot be combined")
    factory = pull_sources(
        lock,
        registry=registry_setting(manifest, o.registry),
        layout=o.from_oci_layout,
        endpoint=endpoint,
        project_dir=project_dir,
        s3_endpoint=s3_endpoint,
    )
    if not (o.dry_run or o.check):
        store.register_lock(lock_path)
    result = sync_lock(
        lock,
        project_dir,
        store,
        models=o.models,
        offline=o.offline,
        dry_run=o.dry_run,
        check=o.check,
        inexact=o.inexact,
        force=o.force,
        reinstall=o.reinstall,
        link_mode=LinkMode(mode_name) if mode_name else None,
        endpoint=endpoint,
        s3_endpoint=s3_endpoint,
        progress=progress,
        source_factory=factory,
        trust=trust_source(manifest, o.trusted_root, online=False),
        cert_roots=roots,
        lock_path=lock_path,
    )
    return InstallOutcome(result, relocked, warnings)


def _nothing_planned() -> SyncResult:
    return SyncResult(
        models=(), downloaded_files=0, downloaded_bytes=0, link_mode=None, warnings=(), dry_run=True, check=False,
        elapsed=0.0,
    )  # fmt: skip
