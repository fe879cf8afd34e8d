"""What the lock records of the gate's findings (`format`, and for pickles `scan` and `scanner`), and its proof.

These fields are derived from bytes, so only bytes prove them: `lock` writes them from the gate's
scan of the verified bytes, and `sync` scans the exact bytes it installs again and refuses a lock
whose record says otherwise. `--remote` reads no weights, so it cannot prove them; until a sync has
run on a lock, what `show` and the BOMs say about formats is the lock's word.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from modellock.errors import CheckFailed
from modellock.gate.verdict import SCANNER_VERSION, ScanResult
from modellock.project.lockfile import LockedFile, LockedModel


def labelled(file: LockedFile, scan: ScanResult) -> LockedFile:
    """The lock entry with the gate's findings: format always, verdict and scanner for pickles."""
    if scan.kind == "pickle":
        return replace(file, format=scan.format, scan=scan.verdict, scanner=SCANNER_VERSION)
    return replace(file, format=scan.format, scan="", scanner="")


def misrecorded(file: LockedFile, scan: ScanResult) -> str | None:
    """How the lock's record of `file` differs from the gate's scan of its bytes now (None if it does not).

    A pickle verdict is compared only when the same scanner version wrote it: newer rules may judge
    the same bytes differently, and the gate's decision at sync comes from the scan, not the record.
    """
    expected = labelled(file, scan)
    if file.format != expected.format:
        return f"{file.path}: the lock records format `{file.format or 'none'}`, its bytes are `{scan.format}`"
    if not expected.scanner and (file.scan or file.scanner):
        return f"{file.path}: the lock records a pickle scan, its bytes are {scan.format}, not a pickle"
    if expected.scanner and not file.scanner:
        return f"{file.path}: the lock records no pickle scan, its bytes are a pickle ({scan.format})"
    if file.scanner == SCANNER_VERSION and file.scan != expected.scan:
        return f"{file.path}: the lock records the pickle scan `{file.scan}`, its bytes scan `{expected.scan}`"
    return None


def refuse_misrecorded(model: LockedModel, scans: Mapping[str, ScanResult]) -> None:
    """At sync, before anything is installed: the lock's gate record must be what the bytes say (exit 1)."""
    found = [why for f in model.files if (why := misrecorded(f, scans[f.path])) is not None]
    if found:
        raise CheckFailed(
            f"refusing {model.name}: the lock's record of what its files are does not match their bytes: "
            + "; ".join(found[:5])
            + (f" (and {len(found) - 5} more)" if len(found) > 5 else ""),
            hint="the lock was edited or written by another modellock version; review it (`git diff`), then "
            f"`modellock lock --upgrade-model {model.name}` records the gate's findings again",
        )
