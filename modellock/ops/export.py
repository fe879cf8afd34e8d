"""What every BOM is built from: a sealed lock, the digest of its bytes, and a creation time if one is asked for.

Only the lock goes in: no manifest, store, endpoint or clock, so the same lock gives the same BOM on
any machine. The BOM formats themselves live in `report/`.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import blake3

from modellock.errors import ConfigError, LockTampered, UsageError
from modellock.project.lockfile import Lockfile
from modellock.project.lockread import loads_checked


@dataclass(frozen=True)
class ExportSource:
    """A verified lock, ready to become a BOM."""

    lock: Lockfile
    lock_digest: str
    """`blake3:` of the lock file's bytes: names this exact resolution (and seeds the serial number)."""
    created: datetime.datetime | None
    """From `SOURCE_DATE_EPOCH`; None means the BOM carries no timestamp at all."""


def created_from(environ: Mapping[str, str]) -> datetime.datetime | None:
    """The reproducible-builds convention: a timestamp only when the caller fixes one."""
    raw = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise UsageError(
            f"SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, not {raw[:40]!r}",
            hint="unset it to export without a timestamp",
        )
    try:
        return datetime.datetime.fromtimestamp(int(raw), tz=datetime.timezone.utc)
    except (OverflowError, ValueError, OSError):
        raise UsageError(f"SOURCE_DATE_EPOCH {raw[:40]} is out of range", hint="unset it") from None


def export_source(lock_path: Path, environ: Mapping[str, str]) -> ExportSource:
    """Read and verify the lock at `lock_path` for export (refused, exit 1, unless whole and sealed)."""
    created = created_from(environ)
    try:
        data = lock_path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("no lock found", file=str(lock_path), hint="run `modellock lock` first") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("the lock is not UTF-8", file=str(lock_path), hint="run `modellock lock`") from None
    # One read: the digest names exactly the bytes the BOM was built from.
    read = loads_checked(text, str(lock_path))
    if read.unsealed or not read.canonical:
        raise LockTampered(
            f"{lock_path}: the lock was changed outside modellock (a seal or its canonical form does not hold)",
            hint="review the change (`git diff`), then run `modellock lock` to re-resolve and re-seal it",
        )
    return ExportSource(read.lock, "blake3:" + blake3.blake3(data).hexdigest(), created)
