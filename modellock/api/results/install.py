"""`Project.verify()` and `Project.status()`: installed files against the lock."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modellock.ops.verify import Report as _Report


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


def install_report(report: _Report) -> InstallReport:
    models = tuple(
        ModelReport(
            m.name, Path(m.target), m.installed, m.missing, m.modified, m.extra, m.store_bad, m.signature, m.refs, m.ok
        )
        for m in report.models
    )
    return InstallReport(report.ok, models, report.files_checked, report.bytes_checked, report.hashed, detail=report)
