"""`modellock lock --check`: offline proof that the lock is intact and matches the manifest."""

from __future__ import annotations

from dataclasses import dataclass

from modellock.lockfile import content_digest, loads_canonical
from modellock.manifest import Manifest
from modellock.tomlread import bad_utf8


@dataclass(frozen=True)
class Problem:
    """One reason the lock cannot be trusted as it stands."""

    model: str | None
    message: str


@dataclass(frozen=True)
class CheckResult:
    """What `lock --check` found; `ok` when nothing."""

    problems: tuple[Problem, ...]
    models: int
    files: int

    @property
    def ok(self) -> bool:
        return not self.problems


def check_lock(manifest: Manifest) -> CheckResult:
    """Parse, re-serialise and cross-check the lock without network or model bytes."""
    path = manifest.lock_path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return CheckResult((Problem(None, f"{path.name} does not exist; run `modellock lock`"),), 0, 0)
    except UnicodeDecodeError:
        raise bad_utf8(path, "the lock") from None
    lock, canonical = loads_canonical(text, str(path))
    problems: list[Problem] = []
    if not canonical:
        problems.append(Problem(None, f"{path.name} is not in canonical form (edited by hand or by a merge?)"))
    for model in lock.models:
        if content_digest(model.files) != model.digest:
            problems.append(Problem(model.name, "its file entries do not match its content digest (edited by hand?)"))
        spec = manifest.models.get(model.name)
        if spec is None:
            problems.append(Problem(model.name, "is locked but no longer in the manifest"))
        elif spec.fingerprint() != model.fingerprint:
            problems.append(Problem(model.name, "changed in the manifest since it was locked"))
    locked = set(lock.names())
    for name in manifest.models:
        if name not in locked:
            problems.append(Problem(name, "is in the manifest but not in the lock"))
    return CheckResult(tuple(problems), len(lock.models), sum(len(m.files) for m in lock.models))
