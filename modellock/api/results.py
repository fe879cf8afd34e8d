"""What the public API returns: frozen, typed results, built from the operations' internal ones.

These are a contract: fields are only ever added. Each keeps the internal result it was built from
in `detail` (for modellock's own renderers; its shape is not part of the contract).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from modellock.ops.check import CheckResult as _Check
    from modellock.ops.install import InstallOutcome as _Install
    from modellock.ops.lock import LockResult as _Lock
    from modellock.ops.prove import ProofResult as _Proof
    from modellock.ops.scan import ScanReport as _Scan
    from modellock.ops.verify import Report as _Report

ChangeKind = Literal["added", "updated", "unchanged", "removed"]
SyncAction = Literal["install", "unchanged", "remove"]


@dataclass(frozen=True)
class Problem:
    """One reason the lock cannot be trusted as it stands."""

    model: str | None
    """The manifest entry it concerns; None for the lock as a whole."""
    message: str


@dataclass(frozen=True)
class CheckResult:
    """`Project.check()`: whether the lock is intact and matches the manifest (and, remotely, the Hub)."""

    ok: bool
    problems: tuple[Problem, ...]
    models: int
    files: int
    lock_path: Path
    remote: bool = False
    """True when every locked commit and file was also proven against its source."""
    remote_bytes_read: int = 0
    remote_asked: tuple[str, ...] = ()
    """The endpoints asked (remote only)."""
    detail: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ModelChange:
    """What `lock` did to one model's entry."""

    name: str
    kind: ChangeKind
    requested: str
    old_commit: str | None
    new_commit: str | None
    files: int
    size: int


@dataclass(frozen=True)
class LockResult:
    """`Project.lock()`: the entries it resolved and whether the lock file changed."""

    changes: tuple[ModelChange, ...]
    written: bool
    dry_run: bool
    downloaded_files: int
    downloaded_bytes: int
    warnings: tuple[str, ...] = ()
    bases_added: tuple[tuple[str, str], ...] = ()
    """(manifest name, repository) of each parent `with_bases=True` added to the manifest."""
    detail: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ModelSync:
    """What `sync` did, or would do, to one model."""

    name: str
    commit: str
    target: Path
    action: SyncAction
    reason: str
    files: int
    size: int
    dropped: tuple[str, ...] = ()
    """Files in its directory the lock does not list, which the exact install removed (or would)."""


@dataclass(frozen=True)
class SyncResult:
    """`Project.sync()`: each model's action, and the re-lock that came first when there was one."""

    models: tuple[ModelSync, ...]
    downloaded_files: int
    downloaded_bytes: int
    link_mode: str | None
    dry_run: bool
    check: bool
    signatures_verified: int
    warnings: tuple[str, ...] = ()
    relocked: LockResult | None = None
    detail: Any = field(default=None, repr=False, compare=False)

    @property
    def installed(self) -> tuple[ModelSync, ...]:
        return tuple(m for m in self.models if m.action == "install")

    @property
    def removed(self) -> tuple[ModelSync, ...]:
        return tuple(m for m in self.models if m.action == "remove")

    @property
    def in_sync(self) -> bool:
        """Nothing needed installing or removing (what `check=True` asks)."""
        return not (self.installed or self.removed)


@dataclass(frozen=True)
class ModelReport:
    """Differences between one locked model and its installed directory."""

    name: str
    target: Path
    installed: bool
    missing: tuple[str, ...]
    modified: tuple[str, ...]
    extra: tuple[str, ...]
    store_bad: tuple[str, ...]
    signature: str
    """Why the locked signature no longer verifies; empty when it does (or was not checked)."""
    refs: tuple[str, ...]
    ok: bool


@dataclass(frozen=True)
class InstallReport:
    """`Project.verify()` (every byte re-hashed) or `Project.status()` (by size, mtime and inode)."""

    ok: bool
    models: tuple[ModelReport, ...]
    files_checked: int
    bytes_checked: int
    hashed: bool
    detail: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ScannedFile:
    """The safety gate's decision on one file."""

    path: str
    allowed: bool
    format: str
    verdict: str
    reason: str
    change: str
    """The manifest change that would allow it (empty when allowed, or when nothing should)."""


@dataclass(frozen=True)
class ScanResult:
    """`scan()`: every file's decision; `ok` when none was refused."""

    ok: bool
    files: tuple[ScannedFile, ...]
    detail: Any = field(default=None, repr=False, compare=False)

    @property
    def refused(self) -> tuple[ScannedFile, ...]:
        return tuple(f for f in self.files if not f.allowed)


@dataclass(frozen=True)
class Bom:
    """`Project.export()`: an AI-BOM document."""

    text: str
    format: str
    models: int
    """How many locked models it describes."""


def check_result(result: _Check, lock_path: Path, proof: _Proof | None = None) -> CheckResult:
    return CheckResult(
        ok=result.ok,
        problems=tuple(Problem(p.model, p.message) for p in result.problems),
        models=result.models,
        files=result.files,
        lock_path=lock_path,
        remote=proof is not None,
        remote_bytes_read=proof.bytes_read if proof is not None else 0,
        remote_asked=tuple(proof.asked) if proof is not None else (),
        detail=proof if proof is not None else result,
    )


def lock_result(result: _Lock, bases_added: tuple[tuple[str, str], ...] = ()) -> LockResult:
    changes = tuple(
        ModelChange(c.name, c.kind, c.requested, c.old_commit, c.new_commit, c.files, c.size) for c in result.changes
    )
    return LockResult(
        changes,
        result.written,
        result.dry_run,
        result.downloaded_files,
        result.downloaded_bytes,
        tuple(result.warnings),
        bases_added,
        detail=result,
    )


def sync_result(outcome: _Install) -> SyncResult:
    result, relocked = outcome.result, outcome.relocked
    return SyncResult(
        models=tuple(
            ModelSync(m.name, m.commit, Path(m.target), m.action, m.reason, m.files, m.size, m.dropped)
            for m in result.models
        ),
        downloaded_files=result.downloaded_files,
        downloaded_bytes=result.downloaded_bytes,
        link_mode=result.link_mode,
        dry_run=result.dry_run,
        check=result.check,
        signatures_verified=result.signatures_verified,
        warnings=(*outcome.warnings, *result.warnings),
        relocked=lock_result(relocked) if relocked is not None else None,
        detail=outcome,
    )


def install_report(report: _Report) -> InstallReport:
    models = tuple(
        ModelReport(
            m.name, Path(m.target), m.installed, m.missing, m.modified, m.extra, m.store_bad, m.signature, m.refs, m.ok
        )
        for m in report.models
    )
    return InstallReport(report.ok, models, report.files_checked, report.bytes_checked, report.hashed, detail=report)


def scan_result(report: _Scan) -> ScanResult:
    files = tuple(
        ScannedFile(d.path, d.allowed, d.result.format, d.result.verdict, d.reason, d.change) for d in report.decisions
    )
    return ScanResult(not report.refused, files, detail=report)
