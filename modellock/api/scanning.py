"""`scan()`: the safety gate's verdict on files or directories, without a project or a lock."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from modellock.api.results.scan import ScanResult

PickleMode = Literal["deny", "scan", "allow"]
RemoteCodeMode = Literal["deny", "allow"]


def scan(
    *paths: str | os.PathLike[str], pickle: PickleMode = "scan", remote_code: RemoteCodeMode = "deny"
) -> ScanResult:
    """Scan model files without loading them; `ok` is False if the policy refuses any.

    `pickle`: deny every pickle, `scan` (accept pickles whose imports are all known-safe) or allow;
    `remote_code`: whether code files (`*.py`) are allowed.
    """
    from modellock.api.results.scan import scan_result
    from modellock.errors import UsageError
    from modellock.ops.scan import scan_paths
    from modellock.project.policy import PICKLE_MODES, REMOTE_CODE_MODES, Policy

    if pickle not in PICKLE_MODES or remote_code not in REMOTE_CODE_MODES:
        raise UsageError("--pickle takes deny, scan or allow; --remote-code takes deny or allow")
    if not paths:
        raise UsageError("scan needs at least one file or directory")
    return scan_result(scan_paths([Path(p) for p in paths], Policy(pickle=pickle, remote_code=remote_code)))
