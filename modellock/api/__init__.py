"""The public, typed library: `Project`, `scan`, their results and the errors they raise.

Import these from `modellock` itself (`from modellock import Project`); everything under
`modellock.*` other than these names is internal and may change in any release.
"""

from __future__ import annotations

from modellock.api.project import EXPORT_FORMATS, ExportFormat, Project
from modellock.api.results import (
    Bom,
    CheckResult,
    InstallReport,
    LockResult,
    ModelChange,
    ModelReport,
    ModelSync,
    Problem,
    ScannedFile,
    ScanResult,
    SyncResult,
)
from modellock.api.scanning import scan
from modellock.ops.progress import Progress

__all__ = [
    "EXPORT_FORMATS",
    "Bom",
    "CheckResult",
    "ExportFormat",
    "InstallReport",
    "LockResult",
    "ModelChange",
    "ModelReport",
    "ModelSync",
    "Problem",
    "Progress",
    "Project",
    "ScanResult",
    "ScannedFile",
    "SyncResult",
    "scan",
]
