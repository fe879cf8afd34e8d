"""Rendering: results become text (or JSON) here and nowhere else."""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

from modellock.errors import ModellockError
from modellock.text import count, human_size, human_time, short

if TYPE_CHECKING:
    from modellock.ops.check import CheckResult
    from modellock.ops.lock import LockResult
    from modellock.ops.prove import ProofResult
    from modellock.ops.scan import ScanReport
    from modellock.ops.sync import SyncResult
    from modellock.ops.verify import Report


_DID = {"added": "Added", "updated": "Updated", "removed": "Removed"}
_WOULD = {"added": "Would add", "updated": "Would update", "removed": "Would remove"}


def use_color(mode: str, stream: TextIO) -> bool:
    """`--color`: always, never, or auto (a terminal, and neither NO_COLOR nor TERM=dumb set; FORCE_COLOR wins)."""
    if mode != "auto":
        return mode == "always"
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


_STYLES = {"error": "1;31", "warning": "1;33", "hint": "1;36", "debug": "2"}


_TRUST_WORDS = {
    "pinned": " (pinned in the manifest)",
    "first-use": " (trusted on first use)",
    "re-established": " (trusted on first use again: the lock's entry failed its seal or disagreed with the manifest)",
    "accepted": " (new signer, accepted with --accept-new-signer)",
}
"""How `lock` says why a signer is trusted (`recorded`, the signer the sealed lock recorded, says nothing)."""


class Console:
    """Where output goes: summaries on stdout, errors and progress on stderr."""

    def __init__(
        self,
        *,
        quiet: bool = False,
        verbose: int = 0,
        progress: bool = True,
        color: str = "auto",
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.quiet = quiet
        self.verbose = verbose
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._progress = progress
        self._color_mode = color
        self.color = use_color(color, self.err)

    def _label(self, kind: str) -> str:
        return f"\x1b[{_STYLES[kind]}m{kind}:\x1b[0m" if self.color else f"{kind}:"

    def line(self, text: str = "") -> None:
        if not self.quiet:
            print(text, file=self.out)

    def json(self, data: Any) -> None:
        print(json.dumps(data, indent=2, sort_keys=True), file=self.out)

    def error(self, exc: ModellockError) -> None:
        print(f"{self._label('error')} {exc.message}", file=self.err)
        if exc.hint:
            print(f"{self._label('hint')} {exc.hint}", file=self.err)

    def warn(self, text: str) -> None:
        print(f"{self._label('warning')} {text}", file=self.err)

    def hint(self, text: str) -> None:
        print(f"{self._label('hint')} {text}", file=self.err)

    def debug(self, text: str) -> None:
        if self.verbose:
            print(f"{self._label('debug')} {text}", file=self.err)

    def progress(self) -> RichProgress | None:
        """A progress display, or None when quiet, turned off (`--no-progress`) or not on a terminal."""
        if self.quiet or not self._progress or not self.err.isatty():
            return None
        return RichProgress(self.err, color=self.color)

    def lock_result(self, result: LockResult) -> None:
        models = [c for c in result.changes if c.kind != "removed"]
        files = sum(c.files for c in models)
        size = sum(c.size for c in models)
        self.line(
            f"Resolved {count(len(models), 'model')} ({count(files, 'file')}, {human_size(size)}) "
            f"in {human_time(result.elapsed)}"
        )
        if result.downloaded_files:
            self.line(f"Downloaded {count(result.downloaded_files, 'file')} ({human_size(result.downloaded_bytes)})")
        verbs = _WOULD if result.dry_run else _DID
        for c in result.changes:
            if c.kind == "unchanged":
                continue
            word = verbs[c.kind]
            if c.kind == "added":
                detail = f"{c.requested} {short(c.new_commit)} ({count(c.files, 'file')}, {human_size(c.size)})"
            elif c.kind == "updated":
                if c.old_commit == c.new_commit and not c.files_changed and not c.repaired:
                    continue  # only where it is installed changed: no new bytes, nothing to report (uv)
                detail = f"{c.requested} {short(c.old_commit)} -> {short(c.new_commit)}"
                if c.files_changed:
                    detail += f" ({count(c.files, 'file')}, {human_size(c.size)})"
                if c.repaired:
                    detail += " (re-resolved: the old entry did not match its seal or the manifest)"
            else:
                detail = f"{c.requested} {short(c.old_commit)}"
            self.line(f"{word} {c.name} {detail}")
        for model, base, relation, commit in result.linked:
            self.line(f"Linked {model} -> {base}@{short(commit)} ({relation})")
        for warning in result.warnings:
            self.warn(warning)
        for s in result.signatures:
            who = s.identity if s.mode != "sigstore" else f"{s.identity} ({s.issuer})"
            first = _TRUST_WORDS.get(s.trust, "")
            self.line(f"Verified signature of {s.model}: {s.mode}, {who}{first}, covers {count(s.covers, 'file')}")
            if s.signed_not_installed:
                shown = ", ".join(s.signed_not_installed[:5]) + (" ..." if len(s.signed_not_installed) > 5 else "")
                self.line(f"  signed, not installed: {shown}")
            if s.unsigned_empty:
                shown = ", ".join(s.unsigned_empty[:5]) + (" ..." if len(s.unsigned_empty) > 5 else "")
                self.line(f"  empty, so not in the shard-mode signature (the lock covers them): {shown}")
            if s.trust_root:
                self.line(f"  verified against {s.trust_root}")
        if result.dry_run:
            self.line("No lock written (--dry-run)")

    def check_result(self, result: CheckResult, lock_name: str) -> None:
        if result.ok:
            self.line(f"{lock_name} is up to date ({count(result.models, 'model')}, {count(result.files, 'file')})")
            return
        print(f"{self._label('error')} {lock_name} does not match the manifest or has been edited:", file=self.err)
        for p in result.problems:
            print(f"  - {p.model + ': ' if p.model else ''}{p.message}", file=self.err)
        if all(p.message.startswith(("stale edge:", "lineage cycle:")) for p in result.problems):
            # Sticky: plain `lock` keeps a stale edge as it is, so it would not fix this.
            self.hint("run `modellock lock --with-dependents` to re-validate the edges against their bases")
        else:
            self.hint("run `modellock lock` to update it")

    def bases_added(self, added: tuple[tuple[str, str], ...]) -> None:
        """On stderr, as uv says what it did: `--format json` stays one object on stdout."""
        for name, repo in added:
            if not self.quiet:
                print(f"Added base {name} ({repo}) to modellock.toml", file=self.err)

    def proof_result(self, result: ProofResult, lock_name: str) -> None:
        check = result.check
        # Hub endpoints are URLs; local directories and S3 stores say what they are.
        where = "the Hub" if all(a.startswith("http") for a in result.asked) else "its sources"
        if check.ok:
            self.line(
                f"{lock_name} is up to date and matches {where} ({count(check.models, 'model')}, "
                f"{count(check.files, 'file')}; {human_size(result.bytes_read)} of file bytes compared; "
                f"asked {', '.join(result.asked) or 'no source'})"
            )
            return
        verb = "holds" if where == "the Hub" else "hold"
        print(f"{self._label('error')} {lock_name} does not match what {where} {verb}:", file=self.err)
        for p in check.problems:
            print(f"  - {p.model + ': ' if p.model else ''}{p.message}", file=self.err)
        self.hint("review the lock's change; `modellock lock --upgrade-model NAME` re-resolves a model from its source")

    def sync_result(self, result: SyncResult) -> None:
        for warning in result.warnings:
            self.warn(warning)
        todo, gone = result.installed, result.removed
        if result.check or result.dry_run:
            if not todo and not gone:
                self.line(f"All {count(len(result.models), 'model')} in sync")
            for m in gone:
                self.line(f"{'Would remove' if result.dry_run else 'Out of sync:'} {m.name} ({m.reason})")
            for m in todo:
                self.line(
                    f"{'Would install' if result.dry_run else 'Out of sync:'} {m.name}@{short(m.commit)} ({m.reason})"
                )
                if m.dropped:
                    self.line(f"  {'would remove' if result.dry_run else 'not in the lock:'} {_listed(m.dropped)}")
            return
        if result.downloaded_files:
            self.line(f"Downloaded {count(result.downloaded_files, 'file')} ({human_size(result.downloaded_bytes)})")
        if not todo and not gone:
            self.line(f"Audited {count(len(result.models), 'model')} in {human_time(result.elapsed)}")
            return
        dropped = [m for m in gone if m.reason == "no longer in the lock"]
        if dropped:
            self.line(f"Removed {count(len(dropped), 'model')} no longer in the lock")
        if len(gone) > len(dropped):
            self.line(f"Removed {count(len(gone) - len(dropped), 'older snapshot')} of locked models")
        if todo:
            files, size = sum(m.files for m in todo), sum(m.size for m in todo)
            self.line(
                f"Installed {count(len(todo), 'model')} ({count(files, 'file')}, {human_size(size)}) "
                f"in {human_time(result.elapsed)}"
            )
        for m in gone:
            self.line(f" - {m.name}@{short(m.commit)}")
        for m in todo:
            self.line(f" + {m.name}@{short(m.commit)}")
            if m.dropped:
                self.warn(
                    f"{m.name}: removed {count(len(m.dropped), 'file')} the lock does not list from {m.target}: "
                    f"{_listed(m.dropped)} (`sync --inexact` keeps such files)"
                )
        if result.signatures_verified:
            source = f" against {result.trust_root}" if result.trust_root else ""
            self.line(f"Verified {count(result.signatures_verified, 'signature')} offline{source}")

    def scan_report(self, report: ScanReport) -> None:
        for d in report.decisions:
            r = d.result
            status = "ok" if d.allowed else "REFUSED"
            self.line(f"{status:8} {d.path}  [format {r.format}, kind {r.kind}, verdict {r.verdict}]")
            if not d.allowed:
                for finding in r.findings[:10]:
                    self.line(f"         - {finding.verdict}: {finding.message}")
                if not r.findings:
                    self.line(f"         - {d.reason}")
        refused = len(report.refused)
        self.line(f"Scanned {count(len(report.decisions), 'file')}: {refused} refused")

    def report(self, report: Report, command: str) -> None:
        for m in report.models:
            if not m.installed:
                self.line(f"{m.name}: not installed at {m.target}")
                continue
            findings = [
                *(f"missing  {p}" for p in m.missing),
                *(f"modified {p}" for p in m.modified),
                *(f"extra    {p}" for p in m.extra),
                *(f"store blob bad for {p}" for p in m.store_bad),
                *(f"ref      {r}" for r in m.refs),
                *([f"signature: {m.signature}"] if m.signature else []),
            ]
            self.line(f"{m.name}: {'ok' if not findings else count(len(findings), 'problem')}")
            for finding in findings:
                self.line(f"  {finding}")
        if report.ok:
            what = count(report.files_checked, "file") + (
                f", {human_size(report.bytes_checked)}" if report.hashed else ""
            )
            self.line(f"{command}: {count(len(report.models), 'model')}, all matching the lock ({what})")
        elif not report.hashed:
            self.hint("`status` compares size, mtime and inode only; run `modellock verify` to confirm")


class RichProgress:
    """One transfer bar for a whole batch of files; safe to call from download threads."""

    def __init__(self, stream: TextIO, *, color: bool = True) -> None:
        self._stream = stream
        self._color = color
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task: Any = None

    def begin(self, label: str, total_bytes: int, total_files: int) -> None:
        from rich.console import Console as RichConsole
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[files]}"),
            console=RichConsole(file=self._stream, no_color=not self._color),
            transient=True,
        )
        self._files_total = total_files
        self._files_done = 0
        self._task = self._bar.add_task(label, total=total_bytes, files=f"0/{total_files} files")
        self._bar.start()

    def advance(self, nbytes: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, nbytes)

    def file_done(self) -> None:
        with self._lock:
            self._files_done += 1
            if self._bar is not None:
                self._bar.update(self._task, files=f"{self._files_done}/{self._files_total} files")

    def end(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _listed(paths: tuple[str, ...], shown: int = 5) -> str:
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return ", ".join(paths[:shown]) + more
