"""Each command's formats (`--format` name -> `Renderer`), one function per command.

Built when the command runs, so the modules of formats nobody asked for are imported only by the
command that has them; `--help` imports none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modellock.report.interface import Call, Formats, Json, Lines

if TYPE_CHECKING:
    from pathlib import Path

    from modellock.ops.add import AddResult
    from modellock.ops.audit import AuditReport
    from modellock.ops.cache import CacheVerifyResult, PruneResult
    from modellock.ops.check import CheckResult
    from modellock.ops.inspect import LockDiff, LockView
    from modellock.ops.install import InstallOutcome
    from modellock.ops.lock import LockResult
    from modellock.ops.oci_layout import LayoutResult
    from modellock.ops.outdated import OutdatedReport
    from modellock.ops.prove import ProofResult
    from modellock.ops.push import PushResult
    from modellock.ops.scan import ScanReport
    from modellock.ops.sign import SignResult
    from modellock.ops.tree import TreeResult
    from modellock.project.lockfile import LockedModel


def cache_verify() -> Formats[CacheVerifyResult]:
    from modellock.report import json_more

    def lines(result: CacheVerifyResult) -> list[str]:
        corrupt = [f"corrupt, evicted: {name}" for name in result.corrupt]
        return [*corrupt, f"Checked {result.checked} blobs, {len(result.corrupt)} corrupt"]

    return Formats(text=Lines(lines), json=Json(json_more.cache_verify))


def cache_prune() -> Formats[PruneResult]:
    from modellock.report import json_more
    from modellock.text import human_size

    def lines(result: PruneResult) -> list[str]:
        return [
            f"Removed {result.removed} blobs ({human_size(result.freed_bytes)}); "
            f"kept {result.kept} referenced by {len(result.locks)} lock(s)"
        ]

    return Formats(text=Lines(lines), json=Json(json_more.cache_prune))


def tree() -> Formats[TreeResult]:
    from modellock.report import json_more
    from modellock.report.tree import tree_lines

    return Formats(text=Lines(tree_lines), json=Json(json_more.tree))


def why(name: str) -> Formats[TreeResult]:
    from modellock.report import json_more
    from modellock.report.tree import why_lines

    return Formats(
        text=Lines(lambda result: why_lines(result, name)), json=Json(lambda result: json_more.tree(result, why=name))
    )


def list_models() -> Formats[LockView]:
    from modellock.report import inspect

    return Formats(text=Lines(inspect.list_text), json=Json(inspect.list_json))


def show(model: LockedModel) -> Formats[LockView]:
    from modellock.report import inspect

    return Formats(
        text=Lines(lambda view: inspect.show_text(view, model)), json=Json(lambda view: inspect.show_json(view, model))
    )


def diff() -> Formats[LockDiff]:
    from modellock.report import inspect

    return Formats(text=Lines(inspect.diff_text), json=Json(inspect.diff_json))


def outdated() -> Formats[OutdatedReport]:
    from modellock.report import inspect

    return Formats(text=Lines(inspect.outdated_text), json=Json(inspect.outdated_json))


def audit() -> Formats[AuditReport]:
    from modellock.report.audit import AuditJson, AuditSarif, audit_text

    return Formats(text=Lines(audit_text), json=Json(AuditJson()), sarif=Json(AuditSarif()))


def installed(command: str) -> Formats[Any]:
    """`verify` and `status`: the same report, named by the command."""
    from modellock.report import json_docs

    return Formats(
        text=Call(lambda report, console: console.report(report, command)),
        json=Json(lambda report: json_docs.installed(report, command)),
    )


def scan() -> Formats[ScanReport]:
    from modellock.report.sarif import Sarif
    from modellock.report.scan_json import ScanJson

    text: Call[ScanReport] = Call(lambda report, console: console.scan_report(report))
    return Formats(text=text, json=Json(ScanJson()), sarif=Json(Sarif()))


def push() -> Formats[PushResult]:
    from modellock.report import json_more
    from modellock.text import count, human_size

    def lines(result: PushResult) -> list[str]:
        out = []
        for m in result.models:
            sent = f"{m.uploaded} uploaded ({human_size(m.uploaded_bytes)})" if m.uploaded else "nothing uploaded"
            extra = "".join(f", {n} {what}" for n, what in ((m.mounted, "mounted"), (m.skipped, "already there")) if n)
            out.append(f" + {m.name} -> {m.repository}@{m.digest} ({sent}{extra})")
        return [*out, f"Pushed {count(len(result.models), 'model')} to {result.registry}"]

    return Formats(text=Lines(lines), json=Json(json_more.push))


def oci_layout(root: Path) -> Formats[LayoutResult]:
    from modellock.report import json_more
    from modellock.text import count, human_size

    def lines(result: LayoutResult) -> list[str]:
        out = [f" + {m.name} -> {m.ref_name} ({m.digest})" for m in result.models]
        return [
            *out,
            f"Wrote an OCI layout of {count(len(result.models), 'model')} to {root} "
            f"({result.blobs_written} blobs, {human_size(result.bytes_written)})",
        ]

    return Formats(text=Lines(lines), json=Json(json_more.oci_layout))


def lock(lock_path: Path, bases_added: tuple[tuple[str, str], ...]) -> Formats[LockResult]:
    from modellock.report import json_docs

    return Formats(
        text=Call(lambda result, console: console.lock_result(result)),
        json=Json(lambda result: json_docs.lock(result, lock_path, bases_added)),
    )


def check(lock_path: Path, name: str) -> Formats[CheckResult]:
    """`lock --check`, offline."""
    from modellock.report import json_docs

    return Formats(
        text=Call(lambda result, console: console.check_result(result, name)),
        json=Json(lambda result: json_docs.check(result, lock_path)),
    )


def proof(lock_path: Path, name: str) -> Formats[ProofResult]:
    """`lock --check --remote`: the offline check and what the source proved."""
    from modellock.report import json_docs

    return Formats(
        text=Call(lambda result, console: console.proof_result(result, name)),
        json=Json(lambda result: json_docs.check(result.check, lock_path, result)),
    )


def sync(ok: bool) -> Formats[InstallOutcome]:
    """`sync`: the re-lock that came first (if the lock was stale), then the install; JSON holds both."""
    from modellock.report import json_docs

    def text(done: InstallOutcome, console: Any) -> None:
        if done.relocked is not None:
            console.lock_result(done.relocked)
        if done.relocked is None or not done.relocked.dry_run:  # a dry re-lock has no install plan yet
            console.sync_result(done.result)

    return Formats(
        text=Call(text), json=Json(lambda done: json_docs.sync(done.result, done.relocked, done.warnings, ok))
    )


def add(lock_path: Path) -> Formats[AddResult]:
    from modellock.report import json_more

    def text(outcome: AddResult, console: Any) -> None:
        if outcome.excluded:
            files = outcome.excluded
            shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
            console.line(f"Excluding pickle-format weights ({shown}): safetensors weights are present")
        console.lock_result(outcome.lock)

    return Formats(
        text=Call(text),
        json=Json(lambda outcome: json_more.add(outcome.name, outcome.lock, lock_path, outcome.bases_added)),
    )


def added_unlocked(manifest_path: Path) -> Formats[str]:
    """`add --no-lock`: the name added to the manifest."""
    from modellock.report import json_more

    said = "to modellock.toml (not locked: `modellock lock` or `sync` resolves it)"
    return Formats(
        text=Lines(lambda name: [f"Added {name} {said}"]),
        json=Json(lambda name: json_more.added_unlocked(name, manifest_path)),
    )


def sign() -> Formats[SignResult]:
    from modellock.report import json_more
    from modellock.text import count

    def text(result: SignResult, console: Any) -> None:
        for m in result.models:
            what = count(m.files, "file")
            if m.serialization == "shards":
                what += f" in {count(m.resources, 'shard')}"
            console.line(f" + {m.target} -> {m.signature} ({what}, {m.hash_type}, root sha256:{m.root_digest})")
            if m.unsigned_empty:
                console.warn(
                    f"{m.target}: shard serialization cannot sign empty files: {', '.join(m.unsigned_empty)} "
                    "(their presence is not covered by the signature)"
                )
        console.line(f"Signed {count(len(result.models), 'model')}")

    return Formats(text=Call(text), json=Json(json_more.sign))
