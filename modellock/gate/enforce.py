"""The gate's decision for each scanned file under a project's policy, and the refusal that names them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from modellock.errors import PolicyRefusal
from modellock.gate.verdict import ScanResult
from modellock.project.paths import glob_match
from modellock.project.policy import Policy

MALICIOUS_CHANGE = "do not load it: pin a commit without it or exclude it, and report it to the repository owner"


@dataclass(frozen=True)
class Decision:
    """Whether one file may enter the lock or a target, and why not."""

    path: str
    result: ScanResult
    allowed: bool
    reason: str = ""
    change: str = ""
    """The manifest change that would allow it."""


def decide(path: str, result: ScanResult, policy: Policy, model: str) -> Decision:
    """Allow-files first; invalid content never; then by kind: code, pickle (deny/scan/allow), data."""
    if any(glob_match(pattern, path) for pattern in policy.allow_files):
        return Decision(path, result, True)
    exception = f'after reviewing it, add it to [models.{model}] allow-files = ["{path}"]'
    reasons = "; ".join(f.message for f in result.findings[:3])
    verdict = result.verdict
    if verdict == "malicious":
        # Never offer a way to accept a known payload: the fix is a different file, not a setting.
        return Decision(path, result, False, f"malicious: {reasons}", MALICIOUS_CHANGE)
    if verdict == "invalid":
        return Decision(path, result, False, f"invalid: {reasons}", exception)
    if result.kind == "code":
        if policy.remote_code == "allow":
            return Decision(path, result, True)
        return Decision(
            path, result, False, "executable code (remote-code is denied)", f'set remote-code = "allow", or {exception}'
        )
    if result.kind == "pickle":
        if policy.pickle == "deny":
            change = (
                f'prefer safetensors; or set pickle = "scan" in [models.{model}] to accept it when its scan is clean'
            )
            return Decision(path, result, False, "pickle-based: loading it can run code (pickle is denied)", change)
        if verdict == "clean" or policy.pickle == "allow":
            return Decision(path, result, True)
        change = f'set pickle = "allow" to trust its imports, or {exception}'
        return Decision(path, result, False, f"{verdict}: {reasons}", change)
    if verdict == "safe":
        return Decision(path, result, True)
    return Decision(path, result, False, f"{verdict}: {reasons}", exception)


class GateRefused(PolicyRefusal):
    """One or more files were refused by the policy."""


def enforce(
    model: str, decisions: Sequence[Decision], on_disk: Mapping[str, Path] | None = None, policy: Policy | None = None
) -> None:
    """Raise with every refusal of one model, each naming file, format, reason and the way to allow it.

    `on_disk` (repository path -> the bytes' file) and `policy` let the hint name a `scan` command that,
    run as given, reaches the same verdict.
    """
    refused = [d for d in decisions if not d.allowed]
    if not refused:
        return
    lines = [f"  {d.path} ({d.result.format}): {d.reason}\n    to allow: {d.change}" for d in refused]
    raise GateRefused(
        f"refusing {model}: {len(refused)} file{'s' if len(refused) > 1 else ''} failed the safety gate\n"
        + "\n".join(lines),
        hint=f"nothing was written; `modellock scan {_scan_args(refused[0].path, on_disk, policy)}` "
        "shows the full findings",
        model=model,
        files=[d.path for d in refused],
    )


def _scan_args(path: str, on_disk: Mapping[str, Path] | None, policy: Policy | None) -> str:
    """The file to name in the hint (where its bytes are, else its repository path), under the model's policy."""
    import shlex

    found = on_disk.get(path) if on_disk is not None else None
    flags = f"--pickle {policy.pickle} --remote-code {policy.remote_code} " if policy is not None else ""
    return flags + shlex.quote(str(found) if found is not None else path)


def gate_files(model: str, policy: Policy, files: Sequence[tuple[str, Path]]) -> dict[str, ScanResult]:
    """Scan each (repository path, bytes on disk); raise GateRefused naming every refused file."""
    from modellock.gate.scanner import scan_file

    results = {path: scan_file(blob, path) for path, blob in files}
    enforce(model, [decide(path, result, policy, model) for path, result in results.items()], dict(files), policy)
    return results
