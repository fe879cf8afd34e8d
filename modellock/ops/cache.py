"""Store housekeeping: which locks use the store, deep verification, and pruning unreferenced blobs."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from modellock.project.lockread import read_lock
from modellock.store.blobs import Store

# Partial downloads older than this belong to no running process.
_STALE_PARTIAL_S = 24 * 3600


@dataclass(frozen=True)
class CacheVerifyResult:
    """Blobs whose bytes no longer hash to their name (they were evicted)."""

    checked: int
    corrupt: tuple[str, ...]


@dataclass(frozen=True)
class PruneResult:
    """What `cache prune` removed and which locks kept blobs alive."""

    removed: int
    freed_bytes: int
    kept: int
    locks: tuple[str, ...]


def verify_store(store: Store) -> CacheVerifyResult:
    corrupt = []
    blobs = store.blobs()
    for name in blobs:
        if not store.verify_blob(name):
            corrupt.append(name)
            store.evict(name)
    return CacheVerifyResult(len(blobs), tuple(corrupt))


def prune_store(store: Store) -> PruneResult:
    """Remove blobs that no registered, still existing lock references (files and signatures).

    Waits for running `lock` and `sync` commands, which hold the store while they add blobs.
    """
    with store.held(exclusive=True):
        return _prune(store)


def _prune(store: Store) -> PruneResult:
    referenced: set[str] = set()
    live = []
    for lock_path in store.known_locks():
        lock = read_lock(lock_path)  # an unreadable lock stops the prune: we cannot tell what it needs
        if lock is None:
            continue
        live.append(str(lock_path))
        referenced.update(f.blake3 for m in lock.models for f in m.files)
        referenced.update(m.signature.blake3 for m in lock.models if m.signature is not None)
    removed = freed = 0
    for name in store.blobs():
        if name not in referenced:
            path = store.blob_path(name)
            with contextlib.suppress(FileNotFoundError):
                freed += path.stat().st_size
                path.unlink()
                removed += 1
    store.drop_stale_index()
    if store.tmp_dir.is_dir():
        for partial in store.tmp_dir.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if time.time() - partial.stat().st_mtime > _STALE_PARTIAL_S:
                    partial.unlink()
    return PruneResult(removed, freed, len(referenced), tuple(sorted(set(live))))
