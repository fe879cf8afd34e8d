"""`audit` as text, JSON and SARIF: the locked files whose Hub scan changed since locking."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from modellock.ops.audit import AuditReport, ScanChange
from modellock.report.interface import Document
from modellock.report.sarif import sarif_log

_RULES = (
    ("HUB001", "The Hub's own scan now calls a locked file unsafe (newly, or not allowed by the manifest)", "error"),
    ("HUB002", "The Hub's own scan of a locked file changed since locking", "warning"),
)


def _where(c: ScanChange) -> str:
    return f"{c.model} ({c.repo}@{c.commit[:7]}) {c.path}"


def audit_text(report: AuditReport) -> list[str]:
    lines = []
    for c in report.changed:
        moved = ", ".join(f"{what} {was} -> {now}" for what, was, now in c.changes)
        label = "NEW UNSAFE " if c.new_unsafe else "UNSAFE (not in hub-scan-allow) " if c.fails else ""
        lines.append(f"{label}{_where(c)}: {moved or 'as the lock records'}")
    checked = f"{report.files} files in {report.models} models"
    differ = [c for c in report.changed if c.changes]
    if not report.changed:
        lines.append(f"No Hub scan changed since locking ({checked}).")
    else:
        lines.append(f"{len(differ)} changed, {len(report.new_unsafe)} newly unsafe ({checked}).")
    kept = [c for c in report.failing if not c.new_unsafe]
    if kept:
        lines.append(
            f"{len(kept)} file(s) the Hub calls unsafe are not in the manifest's hub-scan-allow: "
            "`lock` would refuse them; review them, then allow or exclude them in modellock.toml."
        )
    lines.append("The Hub's scans are evidence, not a verdict: modellock's own gate and digests decide what installs.")
    return lines


def _change(c: ScanChange) -> dict[str, Any]:
    return {
        "model": c.model,
        "repo": c.repo,
        "commit": c.commit,
        "path": c.path,
        "locked": c.locked.statuses() if c.locked is not None else None,
        "now": c.now.statuses() if c.now is not None else None,
        "changes": [{"scan": what, "was": was, "now": now} for what, was, now in c.changes],
        "new_unsafe": c.new_unsafe,
        "allowed": c.allowed,
        "fails": c.fails,
    }


class AuditJson(Document[AuditReport]):
    name = "json"

    def build(self, result: AuditReport) -> dict[str, Any]:
        return {
            "schema": 1,
            "command": "audit",
            "ok": not result.new_unsafe,
            "models": result.models,
            "files": result.files,
            "changed": [_change(c) for c in result.changed],
            "new_unsafe": len(result.new_unsafe),
            "failing": len(result.failing),
        }


class AuditSarif(Document[AuditReport]):
    """One result per changed file: HUB001 (error) for a new `unsafe`, HUB002 (warning) otherwise."""

    name = "sarif"

    def build(self, result: AuditReport) -> dict[str, Any]:
        results = []
        for c in result.changed:
            rule_id, _, level = _RULES[0] if c.fails else _RULES[1]
            moved = ", ".join(f"{what} {was} -> {now}" for what, was, now in c.changes)
            results.append(
                {
                    "ruleId": rule_id,
                    "level": level,
                    "message": {"text": f"{_where(c)}: {moved}"},
                    "locations": [{"physicalLocation": {"artifactLocation": {"uri": quote(c.path)}}}],
                    "properties": _change(c),
                }
            )
        return sarif_log(_RULES, results, {"models": result.models, "files": result.files})
