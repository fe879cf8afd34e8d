"""modellock: lock files for AI model weights.

The public API is the names in `__all__`: `Project` (open, lock, check, sync, verify, status, path,
export), `scan`, their frozen results, and the errors (each with `exit_code`, `hint` and `facts()`).
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
    "RepoNotFound",
    "RevisionNotFound",
    "ScanResult",
    "ScannedFile",
    "SignatureError",
    "SourceError",
    "StaleLock",
    "SyncResult",
    "UnsafePath",
    "UsageError",
    "__version__",
    "scan",
]
# The rest come from modellock.api.
_FROM_ERRORS = frozenset(
    {
        "ModellockError",
        "UsageError",
        "ConfigError",
        "SourceError",
        "RepoNotFound",
        "RevisionNotFound",
        "GatedRepo",
        "NetworkError",
        "Interrupted",
        "CheckFailed",
        "LockTampered",
        "IntegrityError",
        "SignatureError",
        "PolicyRefusal",
        "StaleLock",
        "UnsafePath",
    }
)

if TYPE_CHECKING:
    from modellock.api import (
        Bom,
        CheckResult,
        ExportFormat,
        InstallReport,
        LockResult,
        ModelChange,
        ModelReport,
        ModelSync,
        Problem,
        Progress,
        Project,
        ScannedFile,
        ScanResult,
        SyncResult,
        scan,
    )
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
        UsageError,
    )


def __getattr__(name: str) -> Any:
    if name not in __all__ or name == "__version__":
        raise AttributeError(f"module 'modellock' has no attribute {name!r}")
    where = "modellock.errors" if name in _FROM_ERRORS else "modellock.api"
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
