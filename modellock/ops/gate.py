"""Run the safety gate over a model's files (store blobs) before they enter a lock or a target."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from modellock.security.policy import Policy, decide, enforce
from modellock.security.scan import scan_file
from modellock.security.verdict import ScanResult


def gate_files(model: str, policy: Policy, files: Sequence[tuple[str, Path]]) -> dict[str, ScanResult]:
    """Scan each (repository path, bytes on disk); raise GateRefused naming every refused file."""
    results = {path: scan_file(blob, path) for path, blob in files}
    enforce(model, [decide(path, result, policy, model) for path, result in results.items()])
    return results
