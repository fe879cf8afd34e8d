"""`lock` refuses files the Hub's own scan flags (`unsafe`, `suspicious`) unless the manifest allows them by path.

The Hub's scan is evidence, never an integrity signal: a `safe` from the Hub admits nothing our gate
refuses, and `queued` or `unscanned` are not safe either. Only a flag can stop a lock here.
"""

from __future__ import annotations

from collections.abc import Iterable

from modellock.errors import PolicyRefusal
from modellock.project.manifest import ModelSpec
from modellock.sources.interface import RemoteFile


class HubScanRefused(PolicyRefusal):
    """The Hub's scan flags a selected file the manifest does not allow."""


def refuse_flagged(spec: ModelSpec, commit: str, files: Iterable[RemoteFile]) -> None:
    """Raise `HubScanRefused` (exit 1) for flagged files outside `hub-scan-allow`, before any byte is fetched."""
    flagged = [
        f for f in files if f.hub_scan is not None and f.hub_scan.refused and f.path not in spec.hub_scan_allow
    ]
    if not flagged:
        return
    shown = "; ".join(f"{f.path}: {f.hub_scan.render()}" for f in flagged[:5] if f.hub_scan is not None)
    more = f" (and {len(flagged) - 5} more)" if len(flagged) > 5 else ""
    allow = ", ".join(f'"{f.path}"' for f in flagged[:5])
    raise HubScanRefused(
        f"model `{spec.name}`: the Hub's own scan flags {len(flagged)} file(s) of {spec.repo}@{commit[:7]}: "
        f"{shown}{more}",
        hint=f"inspect the Hub's report for these files; to lock them anyway, add hub-scan-allow = [{allow}] "
        f"to [models.{spec.name}] in modellock.toml, or exclude them",
        model=spec.name,
        files=[f.path for f in flagged],
    )
