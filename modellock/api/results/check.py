"""`Project.check()`: whether the lock is intact and matches the manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modellock.ops.check import CheckResult as _Check
    from modellock.ops.prove import ProofResult as _Proof


@dataclass(frozen=True)
class Problem:
    """One reason the lock cannot be trusted as it stands."""

    model: str | None
    """The manifest entry it concerns; None for the lock as a whole."""
    message: str


@dataclass(frozen=True)
class CheckResult:
    """`Project.check()`: whether the lock is intact and matches the manifest (and, remotely, the Hub)."""

    ok: bool
    problems: tuple[Problem, ...]
    models: int
    files: int
    lock_path: Path
    remote: bool = False
    """True when every locked commit and file was also proven against its source."""
    remote_bytes_read: int = 0
    remote_asked: tuple[str, ...] = ()
    """The endpoints asked (remote only)."""
    detail: Any = field(default=None, repr=False, compare=False)


def check_result(result: _Check, lock_path: Path, proof: _Proof | None = None) -> CheckResult:
    return CheckResult(
        ok=result.ok,
        problems=tuple(Problem(p.model, p.message) for p in result.problems),
        models=result.models,
        files=result.files,
        lock_path=lock_path,
        remote=proof is not None,
        remote_bytes_read=proof.bytes_read if proof is not None else 0,
        remote_asked=tuple(proof.asked) if proof is not None else (),
        detail=proof if proof is not None else result,
    )
