"""`Project.sync()`: each model's action, and the re-lock that came first."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from modellock.api.results.lock import LockResult, lock_result

if TYPE_CHECKING:
    from modellock.ops.install import InstallOutcome as _Install

SyncAction = Literal["install", "unchanged", "remove"]


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
