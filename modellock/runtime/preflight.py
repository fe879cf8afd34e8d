"""What `modellock run` proves before the command starts: the lock is intact, every tree matches it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from modellock.ops.check import CheckResult, check_lock
from modellock.ops.verify import Report, status_installed, verify_project
from modellock.project.lockfile import Lockfile

Verify = Literal["status", "full"]
VERIFY_MODES: tuple[Verify, ...] = ("status", "full")


@dataclass(frozen=True)
class Preflight:
    """The checks' findings; the command may start only when `ok`."""

    check: CheckResult
    report: Report | None
    """None when the lock check failed (the trees are not looked at against a lock that cannot be trusted)."""
    unlocked: tuple[str, ...] = ()
    """`[settings] unlocked-repos` of the manifest."""

    @property
    def ok(self) -> bool:
        return self.check.ok and self.report is not None and self.report.ok

    @property
    def lock(self) -> Lockfile:
        assert self.check.lock is not None
        return self.check.lock


def preflight(project_dir: Path, manifest_path: Path, verify: Verify = "status") -> Preflight:
    """`lock --check` (offline) then `status` or, with `full`, `verify` (re-hash, signatures re-verified).

    Without a manifest (an image that ships only the lock, as `sync --frozen` allows) the lock must
    still parse, be canonical and sealed.
    """
    if verify not in VERIFY_MODES:
        from modellock.errors import UsageError

        raise UsageError(f"--verify must be one of {', '.join(VERIFY_MODES)}, got {verify!r}")
    unlocked: tuple[str, ...] = ()
    if manifest_path.exists():
        from modellock.project.manifest import load_manifest

        manifest = load_manifest(manifest_path)
        unlocked = manifest.settings.unlocked_repos
        check = check_lock(manifest)
    else:
        check = _lock_only(manifest_path.with_name("modellock.lock"))
    if not check.ok or check.lock is None:
        return Preflight(check, None, unlocked)
    lock = check.lock
    if verify == "full":
        report = verify_project(lock, project_dir, manifest_path)
    else:
        report = status_installed(lock, project_dir)
    return Preflight(check, report, unlocked)


def _lock_only(lock_path: Path) -> CheckResult:
    """A missing lock (exit 2) or an unsealed one (exit 1) raises, with the codes `sync --frozen` gives."""
    from modellock.ops.context import read_lock_to_use

    lock = read_lock_to_use(lock_path)
    return CheckResult((), len(lock.models), sum(len(m.files) for m in lock.models), lock)
