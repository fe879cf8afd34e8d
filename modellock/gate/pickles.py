"""One pickle's walk turned into findings: every import graded, every failure a named refusal."""

from __future__ import annotations

from modellock.gate import allowlist
from modellock.gate.buffer import Window
from modellock.gate.pickle_walk import BuildHook, Import, PickleInvalid, PickleWalk, walk
from modellock.gate.verdict import Finding, Verdict

_SHOWN = 6


def import_findings(imports: list[Import], where: str = "") -> list[Finding]:
    """One finding per distinct refused (module, name), worst first; long lists are summarised."""
    seen: dict[tuple[str, str], Import] = {}
    for item in imports:
        seen.setdefault((item.module, item.name), item)
    graded: list[tuple[Verdict, str, Import]] = []
    for (module, name), item in seen.items():
        grade, why = allowlist.classify(module, name)
        if grade != "allowed":
            graded.append(("malicious" if grade == "malicious" else "suspicious", why, item))
    graded.sort(key=lambda g: (g[0] != "malicious", g[2].offset))
    prefix = f"{where}: " if where else ""
    findings = [
        Finding(grade, f"{prefix}imports {i.module}.{i.name} ({i.opcode} at byte {i.offset}): {why}")
        for grade, why, i in graded[:_SHOWN]
    ]
    if len(graded) > _SHOWN:
        worst: Verdict = "malicious" if any(g[0] == "malicious" for g in graded[_SHOWN:]) else "suspicious"
        findings.append(Finding(worst, f"{prefix}and {len(graded) - _SHOWN} more imports not on the allowlist"))
    return findings


def failure_finding(exc: PickleInvalid, where: str = "") -> Finding:
    prefix = f"{where}: " if where else ""
    why = {
        "parse": "a broken pickle",
        "unresolvable": "a pickle that cannot be read statically",
        "differential": "unpicklers would read it differently",
        "limit": "the scanner's cap was reached",
    }[exc.kind]
    return Finding("invalid", f"{prefix}{why}: {exc}")


def walk_graded(
    window: Window, start: int = 0, where: str = "", on_build: BuildHook | None = None
) -> tuple[PickleWalk | None, list[Finding]]:
    """Walk one pickle that a loader will unpickle: any failure is a refusal (never "not a pickle")."""
    try:
        result = walk(window, start, on_build)
    except PickleInvalid as exc:
        return None, [*import_findings(exc.imports, where), failure_finding(exc, where)]
    return result, import_findings(result.imports, where)
