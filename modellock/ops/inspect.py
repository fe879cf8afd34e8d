"""Read a lock and say what it holds: one model, every model, or what changed between two locks.

Read-only and offline. A lock that is not whole is still shown (that is when people look), but the
result names the models whose seal does not hold, and the face says so.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from modellock.errors import ConfigError, UsageError
from modellock.project.discover import LOCK_NAME
from modellock.project.lockfile import LockedModel, Lockfile
from modellock.project.lockread import loads_checked


@dataclass(frozen=True)
class LockView:
    """A lock as read, for inspection."""

    label: str
    """Where it came from: a path, or `REV:modellock.lock`."""
    lock: Lockfile
    unsealed: tuple[str, ...]
    """Models whose seal does not match their entry (edited outside modellock)."""
    canonical: bool


def _view(text: str, label: str) -> LockView:
    read = loads_checked(text, label)
    return LockView(label, read.lock, read.unsealed, read.canonical)


def read_view(path: Path) -> LockView:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no lock found", file=str(path), hint="run `modellock lock` first") from None
    except UnicodeDecodeError:
        raise ConfigError("the lock is not UTF-8", file=str(path), hint="run `modellock lock`") from None
    return _view(text, str(path))


def read_at_revision(project: Path, revision: str) -> LockView:
    """The project's lock as committed at a git revision (`HEAD`, `main~3`, a tag)."""
    if revision.startswith("-") or "\0" in revision:
        raise UsageError(f"{revision!r} is not a git revision")
    try:
        done = subprocess.run(
            ["git", "-C", str(project), "show", f"{revision}:./{LOCK_NAME}"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except FileNotFoundError:
        raise UsageError(f"{revision!r} is not a lock file, and without git it cannot be a revision") from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(
            f"{revision!r} is neither a lock file nor a git revision holding {LOCK_NAME}"
            + (f" (git: {reason[-1][:200]})" if reason else ""),
            hint="pass a path to a lock file, or a revision such as HEAD or main~1",
        )
    try:
        text = done.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("the lock is not UTF-8", file=f"{revision}:{LOCK_NAME}") from None
    return _view(text, f"{revision}:{LOCK_NAME}")


def read_either(project: Path, spec: str) -> LockView:
    """A lock file if `spec` names one, else a git revision of the project's lock."""
    path = Path(spec)
    if path.is_file():
        return read_view(path)
    return read_at_revision(project, spec)


@dataclass(frozen=True)
class FileChange:
    """One file that differs between the two locks; sizes are None where the file is absent."""

    path: str
    change: str
    """`added`, `removed`, `changed` (other bytes) or `relabelled` (same bytes, other gate verdict or Hub scan)."""
    old_size: int | None
    new_size: int | None
    old_verdict: str = ""
    new_verdict: str = ""
    """The gate's `format` and, for pickles, `scan` (`torch-zip/clean`)."""
    old_hub_scan: str = ""
    new_hub_scan: str = ""
    """The Hub's own scan as each lock recorded it (`hub-scan`; empty where none)."""


@dataclass(frozen=True)
class ModelChange:
    """One model that differs; the old or new fields are empty where it was added or removed."""

    name: str
    change: str
    """`added`, `removed` or `changed`."""
    repo: str
    old_requested: str
    new_requested: str
    old_commit: str
    new_commit: str
    old_signer: str
    new_signer: str
    """`identity (issuer)` of the verified signature, or empty for unsigned."""
    fields: tuple[str, ...]
    """Other lock fields that differ (`repo`, `path`, `layout`, `policy`, `signature`)."""
    files: tuple[FileChange, ...]


@dataclass(frozen=True)
class LockDiff:
    old: str
    new: str
    models: tuple[ModelChange, ...]
    unsealed: tuple[str, ...]
    """`label: model` for every model on either side whose seal does not hold."""

    @property
    def changed(self) -> bool:
        return bool(self.models)


def signer(m: LockedModel | None) -> str:
    s = m.signature if m is not None else None
    if s is None:
        return ""
    return f"{s.identity} ({s.issuer})" if s.issuer else s.identity


def verdict(f: object) -> str:
    fmt, scan = getattr(f, "format", ""), getattr(f, "scan", "")
    return f"{fmt}/{scan}" if scan else fmt


def _files(old: LockedModel | None, new: LockedModel | None) -> tuple[FileChange, ...]:
    before = {f.path: f for f in old.files} if old else {}
    after = {f.path: f for f in new.files} if new else {}
    out = []
    for path in sorted(before.keys() | after.keys()):
        a, b = before.get(path), after.get(path)
        if a is None and b is not None:
            out.append(FileChange(path, "added", None, b.size, "", verdict(b)))
        elif b is None and a is not None:
            out.append(FileChange(path, "removed", a.size, None, verdict(a), ""))
        elif a is not None and b is not None:
            hub = (a.hub_scan, b.hub_scan)
            if (a.size, a.blake3, a.sha256) != (b.size, b.blake3, b.sha256):
                out.append(FileChange(path, "changed", a.size, b.size, verdict(a), verdict(b), *hub))
            elif verdict(a) != verdict(b) or a.scanner != b.scanner or a.hub_scan != b.hub_scan:
                out.append(FileChange(path, "relabelled", a.size, b.size, verdict(a), verdict(b), *hub))
    return tuple(out)


def _fields(a: LockedModel, b: LockedModel) -> tuple[str, ...]:
    pairs = {
        "source": (a.source, b.source),
        "repo": (a.repo, b.repo),
        "repo-type": (a.repo_type, b.repo_type),
        "path": (a.install_path, b.install_path),
        "layout": (a.layout, b.layout),
        "policy": (a.policy, b.policy),
        "signature": (a.signature, b.signature),
    }
    return tuple(k for k, (x, y) in pairs.items() if x != y)


def _model(name: str, a: LockedModel | None, b: LockedModel | None) -> ModelChange | None:
    files = _files(a, b)
    fields = _fields(a, b) if a is not None and b is not None else ()
    if a is not None and b is not None:
        moved = (a.requested, a.commit) != (b.requested, b.commit)
        if not (moved or files or fields):
            return None
    change = "added" if a is None else "removed" if b is None else "changed"
    return ModelChange(
        name=name,
        change=change,
        repo=(b or a).repo,  # type: ignore[union-attr]
        old_requested=a.requested if a else "",
        new_requested=b.requested if b else "",
        old_commit=a.commit if a else "",
        new_commit=b.commit if b else "",
        old_signer=signer(a),
        new_signer=signer(b),
        fields=fields,
        files=files,
    )


def diff_locks(old: LockView, new: LockView) -> LockDiff:
    """What changed from `old` to `new`: models added and removed, commits moved, files and verdicts."""
    names = sorted(set(old.lock.names()) | set(new.lock.names()))
    changes = [_model(n, old.lock.get(n), new.lock.get(n)) for n in names]
    unsealed = tuple(f"{v.label}: {n}" for v in (old, new) for n in v.unsealed)
    return LockDiff(old.label, new.label, tuple(c for c in changes if c is not None), unsealed)
