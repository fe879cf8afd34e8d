"""A pickle read from a decompressing stream, judged as `_scan_pickle` judges one on disk.

Every decompressing loader (joblib, pandas) unpickles what it decodes, so nothing here depends on
the file's name: the bytes are a pickle exactly when an unpickler would act on them.
"""

from __future__ import annotations

from modellock.gate.arrays import joblib_build
from modellock.gate.buffer import Window
from modellock.gate.pickle_walk import PickleInvalid, is_opcode, walk
from modellock.gate.pickles import failure_finding, import_findings, walk_graded
from modellock.gate.streambuf import END, StreamBuffer
from modellock.gate.verdict import Finding, ScanResult

_TRAILING = 16


def scan_pickle_stream(buf: StreamBuffer) -> ScanResult | None:
    """The stream as a pickle; None when no unpickler would act on it (broken before any import or call)."""
    window = Window(buf, 0, END)
    try:
        first_byte = buf[0]
    except PickleInvalid:
        return None  # an empty stream
    if not is_opcode(first_byte):
        return None
    try:
        first = walk(window, 0, joblib_build)
    except PickleInvalid as exc:
        inert = exc.kind == "parse" or (exc.kind == "unresolvable" and first_byte != 0x80)
        if inert and not exc.calls and not exc.imports:
            return None
        return ScanResult("pickle", "pickle", (*import_findings(exc.imports), failure_finding(exc)))
    joblib = any(i.module == "joblib.numpy_pickle" for i in first.imports)
    findings = import_findings(first.imports)
    if not buf.at_end(first.end):
        findings.append(Finding("invalid", f"other data follows the pickle (at byte {first.end} of the stream)"))
        findings += trailing_findings(buf, first.end)
    return ScanResult("joblib" if joblib else "pickle", "pickle", tuple(findings))


def trailing_findings(buf: StreamBuffer, pos: int) -> list[Finding]:
    """Imports of pickles after the first (a loader that reads on would see them); graded, not trusted."""
    findings: list[Finding] = []
    window = Window(buf, 0, END)
    for _ in range(_TRAILING):
        if buf.at_end(pos) or not is_opcode(buf[pos]):
            break
        part, found = walk_graded(window, pos, f"pickle at byte {pos}")
        findings += [f for f in found if f.verdict != "invalid"]
        if part is None:
            break
        pos = part.end
    return findings
