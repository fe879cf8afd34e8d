"""SARIF 2.1.0 for `modellock scan --format sarif`, the format code-scanning dashboards read."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modellock import __version__
from modellock.gate.verdict import SCANNER_VERSION
from modellock.ops.scan import ScanReport
from modellock.report.interface import Document

_RULES = {
    "malicious": ("ML001", "Known code-execution primitive in a model file", "error"),
    "invalid": ("ML002", "Malformed or ambiguous model file (loaders may disagree)", "error"),
    "suspicious": ("ML003", "Import outside the allowlist of checkpoint constructors", "error"),
    "pickle": ("ML004", "Pickle-based file refused by policy", "error"),
    "code": ("ML005", "Executable code refused by policy", "error"),
}


class Sarif(Document[ScanReport]):
    """SARIF 2.1.0: one result per refused file, one rule per kind of refusal."""

    name = "sarif"

    def build(self, result: ScanReport) -> dict[str, Any]:
        return to_sarif(result)


def to_sarif(report: ScanReport) -> dict[str, Any]:
    results = []
    for d in report.refused:
        key = d.result.verdict if d.result.verdict in ("malicious", "invalid", "suspicious") else d.result.kind
        rule_id, _, level = _RULES.get(key, _RULES["invalid"])
        results.append(
            {
                "ruleId": rule_id,
                "level": level,
                "message": {"text": f"{d.result.format}: {d.reason}. To allow: {d.change}"},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": d.path}}}],
                "properties": {"format": d.result.format, "kind": d.result.kind, "verdict": d.result.verdict},
            }
        )
    return sarif_log(_RULES.values(), results, {"scanner": SCANNER_VERSION})


def sarif_log(
    rules: Iterable[tuple[str, str, str]], results: list[dict[str, Any]], properties: dict[str, Any]
) -> dict[str, Any]:
    """A SARIF 2.1.0 log of one modellock run: rules as (id, short description, level)."""
    driver = {
        "name": "modellock",
        "version": __version__,
        "semanticVersion": __version__,
        "rules": [
            {"id": rule_id, "shortDescription": {"text": text}, "defaultConfiguration": {"level": level}}
            for rule_id, text, level in rules
        ],
    }
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results, "properties": properties}],
    }
