"""Fetch remote files into the store, verifying every byte against the digests they must have."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

from modellock.errors import IntegrityError
from modellock.hashing import FileDigest
from modellock.lockfile import LockedFile
from modellock.progress import NoProgress, Progress
from modellock.sources.interface import RemoteFile, RepoRef, Source
from modellock.store import PartialBlob, Store

# Parallel downloads: enough to hide per-request latency, few enough not to thrash two cores.
DEFAULT_WORKERS = 8


@dataclass(frozen=True)
class FetchJob:
    """One file to bring into the store, and what its bytes must hash to."""

    ref: RepoRef
    commit: str
    file: RemoteFile
    locked: LockedFile | None = None
    """The lock's entry when installing; None while locking."""


class _CountingSink:
    """Adapts a PartialBlob to the Sink protocol and reports progress (undone on restart)."""

    def __init__(self, blob: PartialBlob, progress: Progress) -> None:
        self._blob = blob
        self._progress = progress

    @property
    def written(self) -> int:
        return self._blob.written

    def write(self, chunk: bytes | memoryview) -> None:
        self._blob.write(chunk)
        self._progress.advance(len(chunk))

    def restart(self) -> None:
        self._progress.advance(-self._blob.written)
        self._blob.restart()


def fetch_one(source: Source, store: Store, job: FetchJob, progress: Progress) -> FileDigest:
    """Download one file into the store; nothing enters the store unless every check passes."""
    file, locked = job.file, job.locked
    where = f"{job.ref.repo}@{job.commit[:7]}: {file.path}"
    # Installing, the lock's BLAKE3 pins the bytes and the lock supplies the SHA-256 (the slowest
    # hash); locking, the bytes are checked against what the Hub lists: LFS SHA-256 or git blob id.
    git_size = None if locked is not None or file.lfs_sha256 else file.size
    with store.partial(git_blob_size=git_size, sha256=locked is None) as blob:
        source.fetch(job.ref, job.commit, file, _CountingSink(blob, progress))
        digest = blob.hasher.digest(locked.sha256 if locked is not None else "")
        if digest.size != file.size:
            raise IntegrityError(f"{where}: size mismatch: expected {file.size} bytes, received {digest.size}")
        if locked is not None and digest.blake3 != locked.blake3:
            raise IntegrityError(
                f"{where}: BLAKE3 mismatch: the lock says {locked.blake3}, the bytes hash to {digest.blake3}",
                hint="the bytes differ from the ones locked; nothing was stored",
            )
        if file.lfs_sha256 is not None and digest.sha256 != file.lfs_sha256:
            raise IntegrityError(
                f"{where}: SHA-256 mismatch: expected {file.lfs_sha256}, the bytes hash to {digest.sha256}",
                hint="the server or a proxy delivered different bytes; nothing was stored",
            )
        git_sha1 = blob.hasher.git_sha1()
        if git_sha1 is not None and git_sha1 != file.git_oid:
            raise IntegrityError(
                f"{where}: git blob SHA-1 mismatch: expected {file.git_oid}, the bytes hash to {git_sha1}",
                hint="the server or a proxy delivered different bytes; nothing was stored",
            )
        committed = blob.commit(digest.sha256)
    if git_sha1 is not None:
        store.remember("git-sha1", file.git_oid, committed)
    progress.file_done()
    return committed


def fetch_all(
    source: Source,
    store: Store,
    jobs: Sequence[FetchJob],
    *,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> list[FileDigest]:
    """Fetch every job in parallel; the first failure cancels what has not started and is raised."""
    progress = progress or NoProgress()
    if not jobs:
        return []
    store.clean_partials()
    progress.begin("Downloading", sum(j.file.size for j in jobs), len(jobs))
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs)))) as pool:
            futures = [pool.submit(fetch_one, source, store, job, progress) for job in jobs]
            wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:
                future.cancel()  # no-op for those already done or running
            return [f.result() for f in futures]
    finally:
        progress.end()
