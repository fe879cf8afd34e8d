"""`list`, `show` and `diff` as people read them, and as JSON for scripts."""

from __future__ import annotations

import dataclasses
from typing import Any

from modellock.ops.inspect import LockDiff, LockView, ModelChange, signer
from modellock.ops.outdated import OutdatedReport
from modellock.project.lockfile import LockedModel
from modellock.text import count, human_size, short


def _policy(m: LockedModel) -> str:
    p = m.policy
    if p.is_default():
        return "default"
    extra = f", allow {len(p.allow_files)} files" if p.allow_files else ""
    return f"pickle={p.pickle}, remote-code={p.remote_code}{extra}"


def model_summary(m: LockedModel, unsealed: tuple[str, ...]) -> dict[str, Any]:
    return {
        "name": m.name,
        "repo": m.repo,
        "repo_type": m.repo_type,
        "requested": m.requested,
        "commit": m.commit,
        "files": len(m.files),
        "size": m.size,
        "layout": m.layout,
        "install_path": m.install_path,
        "signed": m.signature is not None,
        "signer": signer(m),
        "policy": _policy(m),
        "sealed": m.name not in unsealed,
    }


def list_json(view: LockView) -> dict[str, Any]:
    models = [model_summary(m, view.unsealed) for m in view.lock.models]
    return {"schema": 1, "command": "list", "ok": True, "lock": view.label, "models": models}


def list_text(view: LockView) -> list[str]:
    if not view.lock.models:
        return ["The lock holds no models"]
    rows = [("NAME", "REPO", "REF", "COMMIT", "FILES", "SIZE", "LAYOUT", "SIGNED", "POLICY")]
    for m in view.lock.models:
        flag = "" if m.name not in view.unsealed else " (unsealed!)"
        rows.append(
            (
                m.name + flag,
                m.repo,
                m.requested,
                short(m.commit),
                str(len(m.files)),
                human_size(m.size),
                m.layout,
                "yes" if m.signature else "no",
                _policy(m),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def show_json(view: LockView, m: LockedModel) -> dict[str, Any]:
    data = dataclasses.asdict(m)
    data["policy"] = dataclasses.asdict(m.policy)
    sealed = m.name not in view.unsealed
    return {
        "schema": 1,
        "command": "show",
        "ok": True,
        "lock": view.label,
        "sealed": sealed,
        "size": m.size,
        "model": data,
    }


def show_text(view: LockView, m: LockedModel) -> list[str]:
    lines = [
        f"{m.name}: {m.source} {m.repo_type} {m.repo}",
        f"  requested   {m.requested}",
        f"  commit      {m.commit}",
        f"  install     {m.install_path} ({m.layout})",
        f"  policy      {_policy(m)}",
        f"  digest      {m.digest}",
        f"  seal        {m.seal or '-'}" + ("" if m.name not in view.unsealed else "  (does not match: edited?)"),
    ]
    s = m.signature
    if s is None:
        lines.append("  signature   none")
    else:
        lines.append(f"  signature   {s.path} ({s.mode}), signer {signer(m)}, covers {count(s.covers, 'file')}")
        for label, value in (
            ("root digest", s.root_digest),
            ("trust root", s.trust_root),
            ("key", s.key),
            ("log index", s.log_index),
        ):
            if value not in ("", None):
                lines.append(f"              {label} {value}")
    c = m.card
    if c is not None:
        stated = [f"license {c.license}"] if c.license else []
        stated += [f"task {c.task}"] if c.task else []
        stated += [f"datasets {', '.join(c.datasets)}"] if c.datasets else []
        lines.append(f"  card        {'; '.join(stated)} (the card's claims at lock)")
    lines.append(f"  files       {count(len(m.files), 'file')}, {human_size(m.size)}")
    for f in m.files:
        scan = f" {f.scan} ({f.scanner})" if f.scan else ""
        lines.append(f"    {f.path}  {human_size(f.size)}  {f.format or '-'}{scan}")
        lines.append(f"      sha256 {f.sha256}")
        lines.append(f"      blake3 {f.blake3}")
        if f.hub_scan:
            lines.append(f"      Hub scan at lock (evidence) {f.hub_scan}")
    return lines


def _size(n: int | None) -> str:
    return "-" if n is None else human_size(n)


def _change_text(c: ModelChange) -> list[str]:
    if c.change == "added":
        head = f"Added {c.name} {c.repo} {c.new_requested} {short(c.new_commit)}"
    elif c.change == "removed":
        head = f"Removed {c.name} {c.repo} {c.old_requested} {short(c.old_commit)}"
    else:
        ref = c.new_requested if c.old_requested == c.new_requested else f"{c.old_requested} -> {c.new_requested}"
        moved = short(c.new_commit)
        if c.old_commit != c.new_commit:
            moved = f"{short(c.old_commit)} -> {moved}"
        head = f"Updated {c.name} {c.repo} {ref} {moved}"
    lines = [head]
    if c.change == "changed" and c.old_signer != c.new_signer:
        lines.append(f"  signer: {c.old_signer or 'unsigned'} -> {c.new_signer or 'unsigned'}")
    other = [f for f in c.fields if f != "signature" or c.old_signer == c.new_signer]
    if other:
        lines.append(f"  changed: {', '.join(other)}")
    if c.change != "changed":
        total = sum((f.new_size if c.change == "added" else f.old_size) or 0 for f in c.files)
        lines.append(f"  {count(len(c.files), 'file')}, {human_size(total)}")
        return lines
    for f in c.files:
        if f.change == "added":
            lines.append(f"  + {f.path} ({_size(f.new_size)})")
        elif f.change == "removed":
            lines.append(f"  - {f.path} ({_size(f.old_size)})")
        elif f.change == "changed":
            relabel = f", {f.old_verdict} -> {f.new_verdict}" if f.old_verdict != f.new_verdict else ""
            lines.append(f"  ~ {f.path} ({_size(f.old_size)} -> {_size(f.new_size)}{relabel})")
        else:
            labels = [] if f.old_verdict == f.new_verdict else [f"verdict {f.old_verdict} -> {f.new_verdict}"]
            if f.old_hub_scan != f.new_hub_scan:
                labels.append(f"Hub scan {f.old_hub_scan or 'none'} -> {f.new_hub_scan or 'none'}")
            lines.append(f"  ~ {f.path} (same bytes, {', '.join(labels) or 'same verdict, other scanner'})")
    return lines


def diff_text(d: LockDiff) -> list[str]:
    lines = [f"warning: not sealed, edited outside modellock: {u}" for u in d.unsealed]
    if not d.models:
        return [*lines, f"No changes between {d.old} and {d.new}"]
    for c in d.models:
        lines.extend(_change_text(c))
    return lines


def diff_json(d: LockDiff) -> dict[str, Any]:
    return {"schema": 1, "command": "diff", "ok": True, "changed": d.changed, **dataclasses.asdict(d)}


def outdated_text(report: OutdatedReport) -> list[str]:
    lines = []
    for m in report.models:
        if not m.outdated:
            continue
        if m.kind == "missing":
            head = f"{m.name} {m.repo} {m.requested} {short(m.commit)}: `{m.requested}` no longer exists upstream"
        elif m.head and m.head != m.commit:
            ahead = "history rewritten" if m.behind is None else count(m.behind, "newer commit")
            head = f"{m.name} {m.repo} {m.requested} {short(m.commit)} -> {short(m.head)} ({ahead})"
        else:
            head = f"{m.name} {m.repo} {m.requested} {short(m.commit)}"
        lines.append(head)
        if m.newer_tags:
            lines.append("  newer tags: " + ", ".join(f"{t.name} ({short(t.commit)})" for t in m.newer_tags))
    if not lines:
        return [f"All {count(len(report.models), 'model')} up to date with upstream"]
    return lines


def outdated_json(report: OutdatedReport) -> dict[str, Any]:
    models = [{**dataclasses.asdict(m), "outdated": m.outdated} for m in report.models]
    return {"schema": 1, "command": "outdated", "ok": True, "outdated": len(report.outdated), "models": models}
