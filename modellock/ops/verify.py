"""`modellock verify` (re-hash everything) and `modellock status` (compare stats, read nothing)."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from modellock.errors import ModellockError, UsageError
from modellock.ops.edgecheck import hf_cache_bases
from modellock.project.lockfile import LockedModel, Lockfile
from modellock.store.blobs import Store
from modellock.store.hashing import blake3_file
from modellock.store.hfcache import ref_problem
from modellock.store.installed import installed_stat, read_state, target_of, user_files


@dataclass(frozen=True)
class ModelReport:
    """Differences between one locked model and its installed directory."""

    name: str
    target: str
    installed: bool
    missing: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    store_bad: tuple[str, ...] = ()
    """Store blobs (by file path) that are missing or no longer hash to their name (`--store`)."""
    signature: str = ""
    """Why the locked signature no longer verifies, if it does not."""
    refs: tuple[str, ...] = ()
    """hf-cache refs that no longer lead to the locked commit (`refs/main` moved by an online client)."""

    @property
    def ok(self) -> bool:
        problems = self.missing or self.modified or self.extra or self.store_bad or self.signature or self.refs
        return self.installed and not problems


@dataclass(frozen=True)
class Report:
    """Per-model findings of `verify` or `status`."""

    models: tuple[ModelReport, ...] = field(default_factory=tuple)
    files_checked: int = 0
    bytes_checked: int = 0
    hashed: bool = True
    """False for `status`: differences are by stat only and `verify` confirms them."""

    @property
    def ok(self) -> bool:
        return all(m.ok for m in self.models)


def _refs(model: LockedModel, target: Path, bases: Collection[str] = ()) -> tuple[str, ...]:
    problem = ref_problem(model, target, model.name in bases)
    return (problem,) if problem else ()


def _select(lock: Lockfile, models: Collection[str]) -> list[LockedModel]:
    unknown = sorted(set(models) - set(lock.names()))
    if unknown:
        raise UsageError(f"--model names a model not in the lock: {', '.join(unknown)}")
    return [m for m in lock.models if not models or m.name in models]


def verify_installed(
    lock: Lockfile,
    project_dir: Path,
    *,
    models: Collection[str] = (),
    store: Store | None = None,
    check_signature: Callable[[LockedModel], None] | None = None,
) -> Report:
    """Re-hash every installed file (and, with `store`, every referenced blob) against the lock.

    `check_signature` re-verifies a signed model's bundle offline; its errors become findings.
    """
    reports = []
    files = size = 0
    bases = hf_cache_bases(lock.models)
    for model in _select(lock, models):
        target = target_of(model, project_dir)
        store_bad = tuple(f.path for f in model.files if store is not None and not store.verify_blob(f.blake3))
        if not target.is_dir():
            reports.append(ModelReport(model.name, str(target), False, store_bad=store_bad))
            continue
        missing, modified = [], []
        base = f"{target}{os.sep}"
        for f in model.files:
            try:
                shaped = installed_stat(model, base, f) is not None
                if not shaped or blake3_file(base + f.path, f.size, nofollow=model.layout == "dir") != f.blake3:
                    modified.append(f.path)
            except FileNotFoundError:
                missing.append(f.path)
                continue
            files += 1
            size += f.size
        extra = sorted(set(user_files(target)) - {f.path for f in model.files})
        signature = ""
        if check_signature is not None and model.signature is not None:
            try:
                check_signature(model)
            except ModellockError as exc:
                signature = exc.message
            except FileNotFoundError:
                signature = f"{model.signature.path} is not in the store; run `modellock sync` to fetch it"
        reports.append(
            ModelReport(
                model.name,
                str(target),
                True,
                tuple(missing),
                tuple(modified),
                tuple(extra),
                store_bad,
                signature,
                _refs(model, target, bases),
            )
        )
    return Report(tuple(reports), files, size, hashed=True)


def status_installed(lock: Lockfile, project_dir: Path, *, models: Collection[str] = ()) -> Report:
    """Compare size, mtime and inode recorded at install time; reads no file contents."""
    reports = []
    files = 0
    bases = hf_cache_bases(lock.models)
    for model in _select(lock, models):
        target = target_of(model, project_dir)
        state = read_state(target)
        if state is None or state.digest != model.digest:
            reports.append(ModelReport(model.name, str(target), False))
            continue
        missing, modified = [], []
        base = f"{target}{os.sep}"  # string joins: pathlib costs more than the stat itself here
        for f in model.files:
            try:
                if installed_stat(model, base, f) != state.files.get(f.path):
                    modified.append(f.path)
            except FileNotFoundError:
                missing.append(f.path)
            files += 1
        extra = sorted(set(user_files(target)) - {f.path for f in model.files})
        reports.append(
            ModelReport(
                model.name,
                str(target),
                True,
                tuple(missing),
                tuple(modified),
                tuple(extra),
                refs=_refs(model, target, bases),
            )
        )
    return Report(tuple(reports), files, 0, hashed=False)


def verify_project(
    lock: Lockfile,
    project_dir: Path,
    manifest_path: Path,
    *,
    models: Collection[str] = (),
    store_too: bool = False,
    trusted_root: Path | None = None,
) -> Report:
    """`modellock verify`: re-hash installed files, store blobs with `store_too`, and re-verify signatures.

    The manifest and the signature machinery are loaded only when needed: a plain verify stays fast.
    """
    signed = any(m.signature is not None for m in lock.models)
    store = check_signature = None
    if signed or store_too:
        from modellock.ops.context import manifest_if_any, store_for

        manifest = manifest_if_any(manifest_path)
        store = store_for(manifest)
    if signed:
        from modellock.ops.context import certificate_roots, trust_source
        from modellock.ops.signatures import attest_for_sync

        trust = trust_source(manifest, trusted_root, online=False)
        roots = certificate_roots(manifest)
        blobs = store

        def check_signature(locked: LockedModel) -> None:
            assert blobs is not None
            attest_for_sync(locked, blobs, trust, project_dir, roots.get(locked.name))

    return verify_installed(
        lock, project_dir, models=models, store=store if store_too else None, check_signature=check_signature
    )
