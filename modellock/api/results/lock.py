"""`Project.lock()`: what each model's entry became."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from modellock.ops.lock import LockResult as _Lock

ChangeKind = Literal["added", "updated", "unchanged", "removed"]


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
