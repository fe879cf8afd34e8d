"""`audit`: ask the Hub again what its own scans say about the locked files, and what changed since locking.

Only file listings at the locked commits are read (no model bytes). The Hub re-scans blobs as its
scanners learn, so a file locked `safe` can be `unsafe` today; that is news, and a new `unsafe` is a
failed check. A changed scan never changes the lock: it is evidence for people to act on.

The lock's record is only what the changes are told against: the seal shows who wrote it, not that
it is true. Whether the check fails rests on the Hub's answer now: any `unsafe` for a file the
manifest's `hub-scan-allow` does not name fails it, whatever the lock records.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
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
    allowed: bool = False
    """The manifest's `hub-scan-allow` names the file (flags on it were accepted at `lock`)."""

    @property
    def new_unsafe(self) -> bool:
        """Some status is `unsafe` now that was not at lock."""
        return any(now == "unsafe" and was != "unsafe" for _, was, now in self.changes)

    @property
    def unsafe_not_allowed(self) -> bool:
        """The Hub says `unsafe` now (overall or a scanner) and the manifest does not allow the file."""
        return not self.allowed and self.now is not None and "unsafe" in self.now.statuses().values()

    @property
    def fails(self) -> bool:
        return self.new_unsafe or self.unsafe_not_allowed


@dataclass(frozen=True)
class AuditReport:
    models: int
    files: int
    """How many locked files were compared."""
    changed: tuple[ScanChange, ...]

    @property
    def new_unsafe(self) -> tuple[ScanChange, ...]:
        return tuple(c for c in self.changed if c.new_unsafe)

    @property
    def failing(self) -> tuple[ScanChange, ...]:
        """What fails the audit: a new `unsafe`, or any `unsafe` on a file the manifest does not allow."""
        return tuple(c for c in self.changed if c.fails)


def audit_lock(
    lock: Lockfile,
    source_for: Callable[[str], Source],
    models: tuple[str, ...] = (),
    allowed: Mapping[str, Collection[str]] | None = None,
) -> AuditReport:
    """Compare each locked file's recorded Hub scan with the Hub's answer now (models in lock order).

    `allowed`: each model's `hub-scan-allow` from the manifest (nothing is allowed without one).
    """
    changed: list[ScanChange] = []
    # Only the Hub scans files: a directory or a bucket has no verdicts to compare (and reading them costs).
    chosen = [m for m in lock.models if (not models or m.name in models) and m.source == "huggingface"]
    files = 0
    for m in chosen:
        listed = source_for(m.source).list_files(RepoRef(m.repo, m.repo_type), m.commit, scans=True)
        now_by_path = {f.path: f.hub_scan for f in listed}
        for f in m.files:
            files += 1
            locked = hubscan.parse(f.hub_scan) if f.hub_scan else None
            now = now_by_path.get(f.path)
            diff = hubscan.changes(locked, now)
            change = ScanChange(
                m.name, m.repo, m.commit, f.path, locked, now, tuple(diff), f.path in (allowed or {}).get(m.name, ())
            )
            if diff or change.fails:
                changed.append(change)
    return AuditReport(len(chosen), files, tuple(changed))
