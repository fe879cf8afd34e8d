"""What the scanner concludes about one file; plain data shared by scanners, policy and output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SCANNER_VERSION = "modellock-scan 2"

# data: cannot run code when loaded; pickle: deserialising it can run code; code: it is code.
Kind = Literal["data", "pickle", "code"]
# safe: validated data; clean: a pickle whose every import is allowlisted; the rest are refusals.
Verdict = Literal["safe", "clean", "suspicious", "malicious", "invalid"]
_RANK = {"safe": 0, "clean": 1, "suspicious": 2, "invalid": 3, "malicious": 4}


@dataclass(frozen=True)
class Finding:
    """One reason for a verdict."""

    verdict: Verdict
    message: str


@dataclass(frozen=True)
class ScanResult:
    """Format recognised from the content, what kind of risk it is, and the verdict."""

    format: str
    kind: Kind
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def verdict(self) -> Verdict:
        if not self.findings:
            return "clean" if self.kind == "pickle" else "safe"
        return max((f.verdict for f in self.findings), key=_RANK.__getitem__)


def worst(a: Kind, b: Kind) -> Kind:
    order = {"data": 0, "pickle": 1, "code": 2}
    return a if order[a] >= order[b] else b
