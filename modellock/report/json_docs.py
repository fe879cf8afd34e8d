"""`--format json`: one document per command, built field by field (never `asdict()` of an internal type).

This is a public format (docs/json.md): every document has `"schema": 1`, `"command"` and `"ok"`.
Keys are only ever added within a schema version; renaming or removing one means `"schema": 2`.
`tests/test_json_contract.py` pins each document's key set.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellock.errors import ModellockError

if TYPE_CHECKING:
    from modellock.ops.check import CheckResult
    from modellock.ops.lock import LockResult
    from modellock.ops.prove import ProofResult
    from modellock.ops.scan import ScanReport
    from modellock.ops.sync import SyncResult
    from modellock.ops.verify import Report

SCHEMA = 1


def _head(command: str, ok: bool) -> dict[str, Any]:
    return {"schema": SCHEMA, "command": command, "ok": ok}


def failure(command: str, exc: ModellockError) -> dict[str, Any]:
    """Any command that failed: the error's message, hint and exit code, and its facts as data."""
    return {
        **_head(command, False),
        "error": exc.message,
        "error_type": type(exc).__name__,
        "hint": exc.hint,
        "exit_code": exc.exit_code,
        "details": exc.facts(),
    }


def usage_failure(command: str, message: str, hint: str, exit_code: int) -> dict[str, Any]:
    """A command line that could not be parsed (no error object exists yet)."""
    return {
        **_head(command, False),
        "error": message,
        "error_type": "UsageError",
        "hint": hint,
        "exit_code": exit_code,
        "details": {},
    }


def lock_fields(result: LockResult, bases_added: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return {
        "written": result.written,
        "dry_run": result.dry_run,
        "changes": [
            {
                "name": c.name,
                "kind": c.kind,
                "requested": c.requested,
                "old_commit": c.old_commit,
                "new_commit": c.new_commit,
                "files": c.files,
                "size": c.size,
                "files_changed": c.files_changed,
                "repaired": c.repaired,
            }
            for c in result.changes
        ],
        "downloaded_files": result.downloaded_files,
        "downloaded_bytes": result.downloaded_bytes,
        "signatures": [
            {
                "model": s.model,
                "mode": s.mode,
                "identity": s.identity,
                "issuer": s.issuer,
                "covers": s.covers,
                "new_signer": s.new_signer,
            }
            for s in result.signatures
        ],
        "excluded": {
            name: {"pickle": list(pair[0]), "other": list(pair[1])} for name, pair in result.auto_excluded.items()
        },
        "edges_added": [
            {"model": model, "base": base, "relation": relation, "commit": commit}
            for model, base, relation, commit in result.linked
        ],
        "bases_added": [{"name": name, "repo": repo} for name, repo in bases_added],
        "warnings": list(result.warnings),
    }


def lock(result: LockResult, lock_path: Path, bases_added: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """`lock`."""
    return {**_head("lock", True), "lock": str(lock_path), **lock_fields(result, bases_added)}


def check(result: CheckResult, lock_path: Path, proof: ProofResult | None = None) -> dict[str, Any]:
    """`lock --check` (and `--remote`)."""
    return {
        **_head("check", result.ok),
        "lock": str(lock_path),
        "models": result.models,
        "files": result.files,
        "problems": [{"model": p.model, "message": p.message} for p in result.problems],
        "remote": None if proof is None else {"bytes_read": proof.bytes_read, "asked": list(proof.asked)},
    }


def sync(result: SyncResult, relocked: LockResult | None, warnings: tuple[str, ...], ok: bool) -> dict[str, Any]:
    """`sync`: each model's action, and the re-lock that came first (None when the lock was used as it is)."""
    return {
        **_head("sync", ok),
        "dry_run": result.dry_run,
        "check": result.check,
        "models": [
            {
                "name": m.name,
                "commit": m.commit,
                "target": m.target,
                "action": m.action,
                "reason": m.reason,
                "files": m.files,
                "size": m.size,
                "dropped": list(m.dropped),
            }
            for m in result.models
        ],
        "downloaded_files": result.downloaded_files,
        "downloaded_bytes": result.downloaded_bytes,
        "link_mode": result.link_mode,
        "signatures_verified": result.signatures_verified,
        "warnings": [*warnings, *result.warnings],
        "relocked": None if relocked is None else lock_fields(relocked, ()),
    }


def installed(report: Report, command: str) -> dict[str, Any]:
    """`verify` (hashed) and `status` (by stat)."""
    return {
        **_head(command, report.ok),
        "hashed": report.hashed,
        "files_checked": report.files_checked,
        "bytes_checked": report.bytes_checked,
        "models": [
            {
                "name": m.name,
                "target": m.target,
                "installed": m.installed,
                "ok": m.ok,
                "missing": list(m.missing),
                "modified": list(m.modified),
                "extra": list(m.extra),
                "store_bad": list(m.store_bad),
                "signature": m.signature,
                "refs": list(m.refs),
            }
            for m in report.models
        ],
    }


def scan(report: ScanReport) -> dict[str, Any]:
    """`scan --format json`: every file's decision and the scanner's findings."""
    return {
        **_head("scan", not report.refused),
        "refused": len(report.refused),
        "files": [
            {
                "path": d.path,
                "allowed": d.allowed,
                "reason": d.reason,
                "change": d.change,
                "format": d.result.format,
                "kind": d.result.kind,
                "verdict": d.result.verdict,
                "findings": [{"verdict": f.verdict, "message": f.message} for f in d.result.findings],
            }
            for d in report.decisions
        ],
    }
