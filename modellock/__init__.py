"""modellock: lock files for AI model weights.

The public API is the names in `__all__`: `Project` (open, lock, check, sync, verify, status, path,
export), `scan`, `guard` (docs/runtime.md), their frozen results, and the errors (each with
`exit_code`, `hint` and `facts()`).
They are imported on first use, so `import modellock` (and the command line's `--help`) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Bom",
    "CheckFailed",
    "CheckResult",
    "ConfigError",
    "ExportFormat",
    "GatedRepo",
    "InstallReport",
    "IntegrityError",
    "Interrupted",
    "LockGuardError",
    "LockResult",
    "LockTampered",
    "ModelChange",
    "ModelReport",
    "ModelSync",
    "ModellockError",
    "NetworkError",
    "PolicyRefusal",
    "Problem",
    "Progress",
    "Project",
    "PushResult",
    "PushedModel",
    "RepoNotFound",
    "RevisionNotFound",
    "ScanResult",
    "ScannedFile",
    "SignatureError",
    "SourceError",
    "StaleLock",
    "SyncResult",
    "UnsafePath",
    "UnsupportedDependency",
    "UsageError",
    "__version__",
    "guard",
    "scan",
]
# Where each name lives; the errors come from modellock.errors.
_WHERE = {
    "Project": "modellock.api.project",
    "ExportFormat": "modellock.api.project",
    "scan": "modellock.api.scanning",
    "Problem": "modellock.api.results.check",
    "CheckResult": "modellock.api.results.check",
    "ModelChange": "modellock.api.results.lock",
    "LockResult": "modellock.api.results.lock",
    "ModelSync": "modellock.api.results.sync",
    "SyncResult": "modellock.api.results.sync",
    "ModelReport": "modellock.api.results.install",
    "InstallReport": "modellock.api.results.install",
    "ScannedFile": "modellock.api.results.scan",
    "ScanResult": "modellock.api.results.scan",
    "Bom": "modellock.api.results.bom",
    "PushResult": "modellock.api.results.push",
    "PushedModel": "modellock.api.results.push",
    "Progress": "modellock.api.progress",
    "guard": "modellock.runtime.enable",
    "LockGuardError": "modellock.runtime.hooks",
}

if TYPE_CHECKING:
    from modellock.api.progress import Progress
    from modellock.api.project import ExportFormat, Project
    from modellock.api.results.bom import Bom
    from modellock.api.results.check import CheckResult, Problem
    from modellock.api.results.install import InstallReport, ModelReport
    from modellock.api.results.lock import LockResult, ModelChange
    from modellock.api.results.push import PushedModel, PushResult
    from modellock.api.results.scan import ScannedFile, ScanResult
    from modellock.api.results.sync import ModelSync, SyncResult
    from modellock.api.scanning import scan
    from modellock.errors import (
        CheckFailed,
        ConfigError,
        GatedRepo,
        IntegrityError,
        Interrupted,
        LockTampered,
        ModellockError,
        NetworkError,
        PolicyRefusal,
        RepoNotFound,
        RevisionNotFound,
        SignatureError,
        SourceError,
        StaleLock,
        UnsafePath,
        UnsupportedDependency,
        UsageError,
    )
    from modellock.runtime.enable import guard
    from modellock.runtime.hooks import LockGuardError


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name) or ("modellock.errors" if name in __all__ and name != "__version__" else None)
    if where is None:
        raise AttributeError(f"module 'modellock' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
