"""`modellock scan --format json`: every file's decision, and how many were refused (docs/json.md)."""

from __future__ import annotations

from typing import Any

from modellock.ops.scan import ScanReport
from modellock.report import json_docs
from modellock.report.interface import Document


class ScanJson(Document[ScanReport]):
    name = "json"

    def build(self, result: ScanReport) -> dict[str, Any]:
        return json_docs.scan(result)
