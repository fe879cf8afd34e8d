"""`Project`: one modellock project (a directory with modellock.toml and/or modellock.lock) and its verbs.

Each method is what the command of the same name does, wired the same way (store, sources, trust
roots): the command line is one client of this class. Failures raise `ModellockError` subclasses
(`StaleLock`, `IntegrityError`, ...) carrying `exit_code`, `hint` and `facts()`; checks that find
differences return a result whose `ok` is False instead of raising.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from modellock.project.discover import LOCK_NAME, MANIFEST_NAME

if TYPE_CHECKING:
    from modellock.api.results.bom import Bom
    from modellock.api.results.check import CheckResult
    from modellock.api.results.install import InstallReport
    from modellock.api.results.lock import LockResult
    from modellock.api.results.push import PushResult
    from modellock.api.results.sync import SyncResult
    from modellock.ops.progress import Progress

StrPath = str | os.PathLike[str]
ExportFormat = Literal["cyclonedx1.6", "cyclonedx1.7", "spdx3"]
EXPORT_FORMATS: tuple[str, ...] = ("cyclonedx1.6", "cyclonedx1.7", "spdx3")

__all__ = ["EXPORT_FORMATS", "ExportFormat", "Project"]


class Project:
    """A project directory. Cheap to create: nothing is read until a method needs it."""

    def __init__(self, root: StrPath) -> None:
        self.root = Path(root)
        """The project directory (relative if it was found relative to the working directory)."""

    @classmethod
    def open(cls, path: StrPath | None = None) -> Project:
        """The project at `path` (a directory, or its modellock.toml / modellock.lock); without one, the
        nearest directory upwards from the working directory holding a manifest (else a lock), as the CLI finds it."""
        if path is None:
            from modellock.project.discover import find_project

            return cls(find_project(Path(".")))
        given = Path(path)
        return cls(given.parent if given.name in (MANIFEST_NAME, LOCK_NAME) and not given.is_dir() else given)

    def __repr__(self) -> str:
        return f"Project({str(self.root)!r})"

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_NAME

    def store_root(self) -> Path:
        """Where the content-addressed store this project uses lives (its [settings], the environment, or the cache)."""
        from modellock.ops.context import manifest_if_any, store_for

        return store_for(manifest_if_any(self.manifest_path)).root

    def lock(
        self,
        *,
        upgrade: bool = False,
        upgrade_models: Sequence[str] = (),
        offline: bool = False,
        dry_run: bool = False,
        trusted_root: StrPath | None = None,
        accept_new_signer: bool = False,
        allow_unsigned: bool = False,
        with_bases: bool = False,
        with_dependents: bool = False,
        progress: Progress | None = None,
    ) -> LockResult:
        """Resolve the manifest to commits and digests and write modellock.lock (sticky: locked commits stay
        unless `upgrade` or `upgrade_models` names them)."""
        from modellock.api.results.lock import lock_result
        from modellock.ops.context import open_project, source_factory, trust_source
        from modellock.ops.lock import lock_project
        from modellock.ops.withbases import lock_and_maybe_bases

        project = open_project(self.manifest_path)
        store = project.store
        root = Path(trusted_root) if trusted_root is not None else None
        done = lock_and_maybe_bases(
            project.manifest,
            with_bases,
            lambda m: lock_project(
                m,
                store,
                upgrade_all=upgrade,
                upgrade=tuple(upgrade_models),
                dry_run=dry_run,
                progress=progress,
                trust=trust_source(m, root, online=not offline),
                accept_new_signer=accept_new_signer,
                allow_unsigned=allow_unsigned,
                source_factory=source_factory(m, store, offline=offline),
                with_bases=with_bases,
                with_dependents=with_dependents,
            ),
        )
        return lock_result(done.result, done.added)

    def check(self, *, remote: bool = False) -> CheckResult:
        """Whether the lock is intact (sealed, canonical) and matches the manifest; offline and reading no
        model bytes. With `remote`, also whether every locked commit and file is what the source holds."""
        from modellock.api.results.check import check_result
        from modellock.ops.check import check_lock
        from modellock.project.manifest import load_manifest

        manifest = load_manifest(self.manifest_path)
        result = check_lock(manifest)
        if result.ok and remote and result.lock is not None:
            from modellock.ops.prove import prove_lock

            proof = prove_lock(result.lock, manifest)
            return check_result(proof.check, manifest.lock_path, proof)
        return check_result(result, manifest.lock_path)

    def sync(
        self,
        *,
        locked: bool | None = None,
        frozen: bool = False,
        offline: bool = False,
        registry: str | None = None,
        dry_run: bool = False,
        check: bool = False,
        upgrade: bool = False,
        reinstall: bool = False,
        models: Sequence[str] = (),
        inexact: bool = False,
        force: bool = False,
        link_mode: str | None = None,
        trusted_root: StrPath | None = None,
        from_oci_layout: StrPath | None = None,
        progress: Progress | None = None,
    ) -> SyncResult:
        """Install exactly what the lock says.

        `locked` (the default here unless `frozen` or `upgrade`; the CLI's default is to re-lock): raise
        `StaleLock` rather than re-lock a lock that does not match the manifest. `frozen`: install the lock
        without reading the manifest. `registry` (`oci://HOST/NAMESPACE`): pull from an OCI registry before
        the Hub. `check`: change nothing; the result's `in_sync` says whether anything would change.
        """
        from modellock.api.results.sync import sync_result
        from modellock.ops.install import SyncOptions, sync_project

        flags = SyncOptions(
            locked=(not frozen and not upgrade) if locked is None else locked,
            frozen=frozen,
            offline=offline,
            dry_run=dry_run,
            check=check,
            reinstall=reinstall,
            models=tuple(models),
            inexact=inexact,
            force=force,
            link_mode=link_mode,
            trusted_root=Path(trusted_root) if trusted_root is not None else None,
            registry=registry,
            from_oci_layout=Path(from_oci_layout) if from_oci_layout is not None else None,
            upgrade=upgrade,
        )
        outcome = sync_project(self.root, flags, progress)
        return sync_result(outcome)

    def verify(
        self, *, models: Sequence[str] = (), store: bool = False, trusted_root: StrPath | None = None
    ) -> InstallReport:
        """Re-hash every installed file against the lock (and with `store`, every store blob it uses);
        re-verify locked signatures offline. `ok` is False when anything differs."""
        from modellock.api.results.install import install_report
        from modellock.ops.context import read_lock_to_use
        from modellock.ops.verify import verify_project

        lock = read_lock_to_use(self.lock_path)
        root = Path(trusted_root) if trusted_root is not None else None
        report = verify_project(
            lock, self.root, self.manifest_path, models=tuple(models), store_too=store, trusted_root=root
        )
        return install_report(report)

    def status(self, *, models: Sequence[str] = ()) -> InstallReport:
        """Compare installed files' size, mtime and inode with what `sync` recorded; reads no file contents."""
        from modellock.api.results.install import install_report
        from modellock.ops.context import read_lock_to_use
        from modellock.ops.verify import status_installed

        return install_report(status_installed(read_lock_to_use(self.lock_path), self.root, models=tuple(models)))

    def path(self, name: str) -> Path:
        """The directory to give a loader (`from_pretrained(project.path("bert"), local_files_only=True)`):
        the model's install directory, or for an hf-cache layout its locked commit's snapshot directory.

        Reads the sealed lock only; does not check the files (`status()` or `verify()` do)."""
        from modellock.errors import UsageError
        from modellock.ops.context import read_lock_to_use
        from modellock.store.installed import target_of

        lock = read_lock_to_use(self.lock_path)
        model = lock.get(name)
        if model is None:
            names = ", ".join(lock.names()) or "none"
            raise UsageError(f"no model named {name!r} in {self.lock_path} (locked: {names})")
        return target_of(model, self.root)

    def push(self, registry: str, *, models: Sequence[str] = (), tag_ref: bool = False) -> PushResult:
        """Push every locked model (verified in the store) to `registry` (`oci://HOST/NAMESPACE`, or
        `http://127.0.0.1:PORT/NAMESPACE` for a loopback test registry) as a ModelPack artifact, tagged by
        commit (and by the requested ref with `tag_ref`); `sync(registry=…)` installs from there."""
        from modellock.api.results.push import push_result
        from modellock.ops.push import push_project

        return push_result(push_project(self.root, registry, models=tuple(models), tag_ref=tag_ref))

    def export(self, format: ExportFormat = "cyclonedx1.6") -> Bom:
        """An AI-BOM of the lock (validated first; SOURCE_DATE_EPOCH sets its timestamp); `.text` is the document."""
        from modellock.api.results.bom import Bom
        from modellock.errors import UsageError
        from modellock.ops.export import export_source

        if format not in EXPORT_FORMATS:
            raise UsageError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, not {format!r}")
        source = export_source(self.lock_path, os.environ)
        if format == "spdx3":
            from modellock.report import spdx3

            return Bom(spdx3.render(source), format, len(source.lock.models))
        from modellock.report import cyclonedx

        return Bom(cyclonedx.render(source, format.removeprefix("cyclonedx")), format, len(source.lock.models))
