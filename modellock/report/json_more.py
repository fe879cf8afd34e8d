"""`--format json` of the commands beside the library's verbs: `add`, `cache`, `tree`/`why`, `push`,
`export --oci-layout`. Same rules as `json_docs.py` (docs/json.md): schema, command, ok, explicit keys."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellock.report.json_docs import lock_fields

if TYPE_CHECKING:
    from modellock.ops.cache import CacheVerifyResult, PruneResult
    from modellock.ops.lock import LockResult
    from modellock.ops.oci_layout import LayoutResult
    from modellock.ops.push import PushResult
    from modellock.ops.sign import SignResult
    from modellock.ops.tree import TreeNode, TreeResult


def _head(command: str, ok: bool) -> dict[str, Any]:
    from modellock.report.json_docs import SCHEMA

    return {"schema": SCHEMA, "command": command, "ok": ok}


def add(name: str, result: LockResult, lock_path: Path, bases_added: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """`add`: the entry added, and the lock run that came with it."""
    return {
        **_head("add", True),
        "added": name,
        "locked": True,
        "lock": str(lock_path),
        **lock_fields(result, bases_added),
    }


def added_unlocked(name: str, manifest_path: Path) -> dict[str, Any]:
    """`add --no-lock`: only the manifest changed."""
    return {**_head("add", True), "added": name, "manifest": str(manifest_path), "locked": False}


def cache_verify(result: CacheVerifyResult) -> dict[str, Any]:
    return {**_head("cache verify", not result.corrupt), "checked": result.checked, "corrupt": list(result.corrupt)}


def cache_prune(result: PruneResult) -> dict[str, Any]:
    return {
        **_head("cache prune", True),
        "removed": result.removed,
        "freed_bytes": result.freed_bytes,
        "kept": result.kept,
        "locks": list(result.locks),
    }


def _node(node: TreeNode) -> dict[str, Any]:
    return {
        "name": node.name,
        "repo": node.repo,
        "commit": node.commit,
        "relation": node.relation,
        "stale": node.stale,
        "repeated": node.repeated,
        "children": [_node(child) for child in node.children],
    }


def tree(result: TreeResult, why: str | None = None) -> dict[str, Any]:
    """`tree` (and `why NAME`, which names the model asked about)."""
    head = _head("why", True) if why is not None else _head("tree", True)
    extra = {"model": why} if why is not None else {}
    return {**head, **extra, "invert": result.invert, "depth": result.depth, "roots": [_node(r) for r in result.roots]}


def push(result: PushResult) -> dict[str, Any]:
    return {
        **_head("push", True),
        "registry": result.registry,
        "models": [
            {
                "name": m.name,
                "repository": m.repository,
                "tags": list(m.tags),
                "digest": m.digest,
                "uploaded": m.uploaded,
                "uploaded_bytes": m.uploaded_bytes,
                "mounted": m.mounted,
                "skipped": m.skipped,
            }
            for m in result.models
        ],
    }


def oci_layout(result: LayoutResult) -> dict[str, Any]:
    """`export --oci-layout DIR`."""
    return {
        **_head("export", True),
        "root": result.root,
        "models": [{"name": m.name, "ref_name": m.ref_name, "digest": m.digest} for m in result.models],
        "blobs_written": result.blobs_written,
        "bytes_written": result.bytes_written,
    }


def sign(result: SignResult) -> dict[str, Any]:
    """`sign --format json`, schema 1: one entry per signature written."""
    return {
        "schema": 1,
        "ok": True,
        "signatures": [
            {
                "target": m.target,
                "signature": m.signature,
                "files": m.files,
                "resources": m.resources,
                "root_digest": f"sha256:{m.root_digest}",
                "serialization": m.serialization,
                "hash": m.hash_type,
                "unsigned_empty": list(m.unsigned_empty),
            }
            for m in result.models
        ],
    }
