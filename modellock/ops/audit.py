"""`audit`: ask the Hub again what its own scans say about the locked files, and what changed since locking.

Only file listings at the locked commits are read (no model bytes). The Hub re-scans blobs as its
scanners learn, so a file locked `safe` can be `unsafe` today; that is news, and a new `unsafe` is a
failed check. A changed scan never changes the lock: it is evidence for people to act on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from modellock.project import hubscan
from modellock.project.lockfile import Lockfile
from modellock.sources.interface import RepoRef, Source


@dataclass(frozen=True)
class ScanChange:
    """One locked file whose Hub scan is not what the lock recorded."""

    model: str
    repo: str
    commit: str
    path: str
    locked: hubscan.HubScan | None
    """As recorded at `lock`; None when the lock has no scan for it (an older lock, or `--offline`)."""
    now: hubscan.HubScan | None
    """What the Hub says now; None when it says nothing (or no longer lists the file)."""
    changes: tuple[tuple[str, str, str], ...]
    """(`status` or a scanner's name, was, now); `none` where one side has no value."""

    @property
    def new_unsafe(self) -> bool:
        """Some status is `unsafe` now that was not at lock."""
        return any(now == "unsafe" and was != "unsafe" for _, was, now in self.changes)


@dataclass(frozen=True)
class AuditReport:
    models: int
    files: int
    """How many locked files were compared."""
    changed: tuple[ScanChange, ...]

    @property
    def new_unsafe(self) -> tuple[ScanChange, ...]:
        return tuple(c for c in self.changed if c.new_unsafe)


def audit_lock(lock: Lockfile, source_for: Callable[[str], Source], models: tuple[str, ...] = ()) -> AuditReport:
    """Compare each locked file's recorded Hub scan with the Hub's answer now (models in lock order)."""
    changed: list[ScanChange] = []
    chosen = [m for m in lock.models if not models or m.name in models]
    files = 0
    for m in chosen:
        listed = source_for(m.source).list_files(RepoRef(m.repo, m.repo_type), m.commit, scans=True)
        now_by_path = {f.path: f.hub_scan for f in listed}
        for f in m.files:
            files += 1
            locked = hubscan.parse(f.hub_scan) if f.hub_scan else None
            now = now_by_path.get(f.path)
            diff = hubscan.changes(locked, now)
            if diff:
                changed.append(ScanChange(m.name, m.repo, m.commit, f.path, locked, now, tuple(diff)))
    return AuditReport(len(chosen), files, tuple(changed))
