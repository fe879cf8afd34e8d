"""`modellock scan PATH...`: the safety gate's verdict on files or directories on disk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from modellock.errors import UsageError
from modellock.gate.enforce import Decision, decide
from modellock.gate.scanner import scan_file, scan_tree
from modellock.project.policy import Policy


@dataclass(frozen=True)
class ScanReport:
    """Each scanned file's decision under the given policy."""

    decisions: tuple[Decision, ...]

    @property
    def refused(self) -> list[Decision]:
        return [d for d in self.decisions if not d.allowed]


def scan_paths(paths: Sequence[Path], policy: Policy) -> ScanReport:
    decisions = []
    for root in paths:
        if root.is_dir():
            for name, result in scan_tree(root):
                decisions.append(decide(f"{root.as_posix().rstrip('/')}/{name}", result, policy, "NAME"))
        elif root.is_file():
            decisions.append(decide(root.as_posix(), scan_file(root), policy, "NAME"))
        else:
            raise UsageError(f"{root} does not exist")
    return ScanReport(tuple(decisions))
