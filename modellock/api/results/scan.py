"""`scan()`: the safety gate's decision on each file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modellock.ops.scan import ScanReport as _Scan


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


def scan_result(report: _Scan) -> ScanResult:
    files = tuple(
        ScannedFile(d.path, d.allowed, d.result.format, d.result.verdict, d.reason, d.change) for d in report.decisions
    )
    return ScanResult(not report.refused, files, detail=report)
