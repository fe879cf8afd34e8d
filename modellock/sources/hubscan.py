"""Reading the Hub's `securityFileStatus` (hostile JSON) into a `HubScan`: malformed parts are `unknown`, never safe."""

from __future__ import annotations

from typing import Any

from modellock.project.hubscan import STATUSES, HubScan

_KEYS = (
    ("av", "avScan"),
    ("pickle-import", "pickleImportScan"),
    ("protectai", "protectAiScan"),
    ("jfrog", "jFrogScan"),
    ("virustotal", "virusTotalScan"),
)


def _status(value: Any) -> str:
    return value if isinstance(value, str) and value in STATUSES and value != "unknown" else "unknown"


def _av(raw: dict[str, Any]) -> str:
    """ClamAV's answer: older Hub answers carry only `virusFound`; a found virus is unsafe whatever `status` says."""
    if raw.get("virusFound") is True:
        return "unsafe"
    if "status" in raw:
        return _status(raw["status"])
    return "safe" if raw.get("virusFound") is False else "unknown"


_PICKLE_LEVELS = {"innocuous": "safe", "suspicious": "suspicious", "dangerous": "unsafe"}


def _pickle_import(raw: dict[str, Any]) -> str:
    """The pickle-import scan states `highestSafetyLevel` (innocuous, suspicious, dangerous), newer answers a status."""
    if "status" in raw:
        return _status(raw["status"])
    level = raw.get("highestSafetyLevel")
    return _PICKLE_LEVELS.get(level, "unknown") if isinstance(level, str) else "unknown"


def from_hub(raw: Any) -> HubScan | None:
    """The scan a tree entry's `securityFileStatus` states; None when the Hub sent none (nothing to record)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        return HubScan("unknown")
    scanners = []
    for name, key in _KEYS:
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            scanners.append((name, "unknown"))
        else:
            read = {"av": _av, "pickle-import": _pickle_import}.get(name, lambda v: _status(v.get("status")))
            scanners.append((name, read(value)))
    return HubScan(_status(raw.get("status")), tuple(scanners))
