"""Fetch remote files into the store, verifying every byte against the digests they must have."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from modellock.errors import IntegrityError, Interrupted
from modellock.ops.progress import NoProgress, Progress
from modellock.ops.workers import CancelFlag, run_parallel
from modellock.project.lockfile import LockedFile
from modellock.sources.interface import RemoteFile, RepoRef, Source
from modellock.store.blobs import Store
from modellock.store.hashing import FileDigest
from modellock.store.partial import PartialBlob

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

    @property
    def key(self) -> str:
        """The digest that names this download's partial file, so an interrupted one can be resumed."""
        if self.locked is not None:
            return f"b3_{self.locked.blake3}"
        if self.file.lfs_sha256:
            return f"sha256_{self.file.lfs_sha256}"
        if not self.file.git_oid:  # an S3 object at lock: named by where it is, its version and ETag
            pin = f"{self.ref.repo}\0{self.file.path}\0{self.file.version_id}\0{self.file.etag}\0{self.file.size}"
            return "obj_" + hashlib.sha256(pin.encode()).hexdigest()
        return f"git_{self.file.git_oid}"


class _CountingTarget:
    """A PartialBlob as the engine's Target: reports progress (undone on restart), stops when cancelled."""

    def __init__(self, blob: PartialBlob, progress: Progress, cancel: CancelFlag) -> None:
        self._blob = blob
        self._progress = progress
        self._cancel = cancel

    def present(self) -> list[tuple[int, int]]:
        return self._blob.present()

    def write_at(self, offset: int, chunk: bytes | memoryview) -> None:
        self._cancel.check()  # between chunks: a Ctrl-C stops every download within one chunk
        self._blob.write_at(offset, chunk)
        self._progress.advance(len(chunk))

    def restart(self) -> None:
        self._progress.advance(-self._blob.written)
        self._blob.restart()

    def pause(self, seconds: float) -> None:
        self._cancel.sleep(seconds)


def check_bytes(job: FetchJob, digest: FileDigest, git_sha1: str | None) -> IntegrityError | None:
    """Why downloaded bytes are not the ones the job asks for, or None: the one place a download is judged."""
    file, locked = job.file, job.locked
    where = f"{job.ref.repo}@{job.commit[:7]}: {file.path}"

    def facts(expected: str, actual: str) -> dict[str, str]:
        return {"model": job.ref.repo, "path": file.path, "expected": expected, "actual": actual}

    if digest.size != file.size:
        return IntegrityError(
            f"{where}: size mismatch: expected {file.size} bytes, received {digest.size}",
            **facts(str(file.size), str(digest.size)),
        )
    if locked is not None and digest.blake3 != locked.blake3:
        return IntegrityError(
            f"{where}: BLAKE3 mismatch: the lock says {locked.blake3}, the bytes hash to {digest.blake3}",
            hint="the bytes differ from the ones locked; nothing was stored",
            **facts(f"blake3:{locked.blake3}", f"blake3:{digest.blake3}"),
        )
    if locked is not None and digest.sha256 != locked.sha256:
        return IntegrityError(
            f"{where}: SHA-256 mismatch: the lock says {locked.sha256}, the bytes hash to {digest.sha256}",
            hint="the bytes differ from the ones locked",
            **facts(f"sha256:{locked.sha256}", f"sha256:{digest.sha256}"),
        )
    if file.lfs_sha256 is not None and digest.sha256 != file.lfs_sha256:
        return IntegrityError(
            f"{where}: SHA-256 mismatch: expected {file.lfs_sha256}, the bytes hash to {digest.sha256}",
            hint="the server or a proxy delivered different bytes; nothing was stored",
            **facts(f"sha256:{file.lfs_sha256}", f"sha256:{digest.sha256}"),
        )
    if git_sha1 is not None and git_sha1 != file.git_oid:
        return IntegrityError(
            f"{where}: git blob SHA-1 mismatch: expected {file.git_oid}, the bytes hash to {git_sha1}",
            hint="the server or a proxy delivered different bytes; nothing was stored",
            **facts(f"git-sha1:{file.git_oid}", f"git-sha1:{git_sha1}"),
        )
    return None


def fetch_one(
    source: Source, store: Store, job: FetchJob, progress: Progress, cancel: CancelFlag | None = None
) -> FileDigest:
    """Download one file into the store; nothing enters the store unless every check passes.

    A partial download an earlier run left behind is resumed (only its missing ranges are fetched); its bytes are hashed
    again here, and if the whole does not verify, the file is downloaded once more from byte 0.
    """
    file, locked = job.file, job.locked
    cancel = cancel or CancelFlag()
    # Installing, the bytes must have the lock's BLAKE3 and SHA-256 (the SHA-256 is what the Hub and
    # signatures vouch for, so it is computed, never taken from the lock); locking, what the Hub
    # lists: LFS SHA-256 or git blob id.
    # A listing with neither (an S3 object) vouches for no content: the source pins the object, we hash it.
    git_size = None if locked is not None or file.lfs_sha256 or not file.git_oid else file.size
    with store.partial(git_blob_size=git_size, key=job.key, size=file.size) as blob:
        progress.advance(blob.written)
        target = _CountingTarget(blob, progress, cancel)
        if blob.written < file.size:
            source.fetch(job.ref, job.commit, file, target)
        digest = blob.digest()
        problem = check_bytes(job, digest, blob.hasher.git_sha1())
        if problem is not None and blob.resumed:
            target.restart()  # the kept bytes were bad (or the file changed): one clean download
            source.fetch(job.ref, job.commit, file, target)
            digest = blob.digest()
            problem = check_bytes(job, digest, blob.hasher.git_sha1())
        if problem is not None:
            raise problem
        git_sha1 = blob.hasher.git_sha1()
        committed = blob.commit()
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
    """Fetch every job in parallel; the first failure stops the others and is raised.

    A Ctrl-C (or SIGTERM) stops every download within a chunk; what arrived is kept for the next
    run to resume, and the Interrupted error says how much.
    """
    from modellock.store.diskspace import check_free

    progress = progress or NoProgress()
    if not jobs:
        return []
    store.clean_partials()
    store.tmp_dir.mkdir(parents=True, exist_ok=True)
    distinct = {j.key: j.file.size for j in jobs}
    partials = store.resumable()
    needed = sum(distinct.values())
    resumable = sum(min(partials.get(key, 0), size) for key, size in distinct.items())
    check_free(store.tmp_dir, needed - resumable, f"{len(jobs)} download{'s' if len(jobs) > 1 else ''} into the store")
    progress.begin("Downloading", sum(j.file.size for j in jobs), len(jobs))
    cancel = CancelFlag()
    try:
        return run_parallel(lambda job: fetch_one(source, store, job, progress, cancel), jobs, workers, cancel)
    except KeyboardInterrupt:
        from modellock.text import count, human_size

        kept = store.kept_partials()
        if not kept:
            raise Interrupted("interrupted; no partial download to keep") from None
        raise Interrupted(
            f"interrupted; kept {count(len(kept), 'partial download')} ({human_size(sum(s for _, s in kept))}) "
            f"in {store.tmp_dir}",
            hint="run the command again to resume them",
        ) from None
    finally:
        progress.end()
