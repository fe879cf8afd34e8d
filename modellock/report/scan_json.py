"""`modellock scan --format json`: every file's decision, and how many were refused."""

from __future__ import annotations

import dataclasses
from typing import Any

from modellock.ops.scan import ScanReport
from modellock.report.interface import Document


class ScanJson(Document[ScanReport]):
    name = "json"

    def build(self, result: ScanReport) -> dict[str, Any]:
        return {"files": [dataclasses.asdict(d) for d in result.decisions], "refused": len(result.refused)}
