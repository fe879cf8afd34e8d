"""The Hub's own scan of a file (`securityFileStatus`), as the lock records it: evidence, never integrity.

The Hub scans blobs after upload (ClamAV, its pickle-import scan, and partners: Protect AI, JFrog,
VirusTotal). modellock records what it said at `lock` so that a BOM can state it and `audit` can tell
when it changes. It never makes a file trusted: `queued`, `unscanned`, `error` and anything we could
not read are not `safe`, and only our own gate and digests decide what is installed.

In the lock one string holds it: the overall status, then `scanner=status` for each scanner the Hub
answered for, in a fixed order, e.g. `"unsafe av=safe pickle-import=unsafe protectai=unscanned"`.
"""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = ("safe", "caution", "suspicious", "unsafe", "queued", "unscanned", "error", "unknown")
"""The Hub's vocabulary, plus `unknown` for an answer modellock could not read."""
REFUSED = frozenset({"unsafe", "suspicious"})
"""Statuses that stop `lock` unless the manifest's `hub-scan-allow` names the file."""
SCANNERS = ("av", "pickle-import", "protectai", "jfrog", "virustotal")
"""Lock names of the Hub's scanners (`avScan`, `pickleImportScan`, `protectAiScan`, `jFrogScan`, `virusTotalScan`)."""


@dataclass(frozen=True)
class HubScan:
    """What the Hub said about one file: its overall status and each scanner's."""

    status: str
    """One of STATUSES."""
    scanners: tuple[tuple[str, str], ...] = ()
    """(scanner, status) in SCANNERS order, for the scanners the Hub answered for."""

    def render(self) -> str:
        return " ".join([self.status, *(f"{name}={status}" for name, status in self.scanners)])

    @property
    def refused(self) -> bool:
        """The overall status or any scanner says unsafe or suspicious."""
        return self.status in REFUSED or any(s in REFUSED for _, s in self.scanners)

    def statuses(self) -> dict[str, str]:
        return {"status": self.status, **dict(self.scanners)}


def parse(text: str) -> HubScan | None:
    """The scan a lock's `hub-scan` string records, or None if it is not one modellock writes."""
    parts = text.split(" ")
    if not parts or parts[0] not in STATUSES:
        return None
    scanners = []
    for part in parts[1:]:
        name, sep, status = part.partition("=")
        if not sep or name not in SCANNERS or status not in STATUSES:
            return None
        scanners.append((name, status))
    names = [n for n, _ in scanners]
    if names != sorted(set(names), key=SCANNERS.index):
        return None
    return HubScan(parts[0], tuple(scanners))


def changes(locked: HubScan | None, now: HubScan | None) -> list[tuple[str, str, str]]:
    """(what, was, now) for each status that differs: `status` or a scanner's name; `none` where absent."""
    was = locked.statuses() if locked is not None else {}
    is_ = now.statuses() if now is not None else {}
    keys = [k for k in ("status", *SCANNERS) if was.get(k) != is_.get(k)]
    return [(k, was.get(k, "none"), is_.get(k, "none")) for k in keys]
