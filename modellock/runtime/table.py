"""The guard's table, built from a checked lock: each locked repository and the tree it is installed in."""

from __future__ import annotations

from pathlib import Path

from modellock.project.lockfile import Lockfile
from modellock.runtime.hooks import Entry, Table
from modellock.store.installed import target_of


def guard_table(lock: Lockfile, project_dir: Path, lock_path: Path, unlocked: tuple[str, ...] = ()) -> Table:
    entries = []
    for model in lock.models:
        if model.source != "huggingface":  # a directory or a bucket is no Hub id a loader could ask for
            continue
        target = target_of(model, project_dir).absolute()
        # An hf-cache target is `<cache>/models--org--name/snapshots/<commit>`: the guard wants the cache.
        root = target.parents[2] if model.layout == "hf-cache" else target
        entries.append(
            Entry(model.name, model.repo_type, model.repo, model.commit, model.requested, model.layout, str(root))
        )
    return Table(str(lock_path.absolute()), tuple(entries), unlocked)


def hf_cache_roots(table: Table) -> list[str]:
    """The distinct caches hf-cache models are installed in, in lock order."""
    roots: list[str] = []
    for entry in table.entries:
        if entry.layout == "hf-cache" and entry.root not in roots:
            roots.append(entry.root)
    return roots
