"""Digests: one streaming pass computes everything a download must be checked against."""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Protocol

import blake3

# Measured on 2-core machines (docs/performance.md): read() wins below 128 KiB, a one-thread
# mmap up to 2 MiB, a multithreaded mmap above.
_SMALL_FILE = 128 * 1024
_MEDIUM_FILE = 2 * 1024 * 1024
# Chunks at least this large are hashed by the digests in parallel (thread hand-off costs ~20 µs).
_PARALLEL_CHUNK = 1024 * 1024
_POOL: ThreadPoolExecutor | None = None
_POOL_MUTEX = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_MUTEX:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="modellock-hash")
        return _POOL


@dataclass(frozen=True)
class FileDigest:
    """Size and digests of one file's bytes."""

    size: int
    blake3: str
    sha256: str


class StreamHasher:
    """Hashes bytes as they arrive: BLAKE3, SHA-256 and, when asked, the git blob SHA-1.

    The git header holds the size, so `git_blob_size` is the size the bytes must have; a stream
    of any other length fails its size check before the SHA-1 matters.
    """

    def __init__(self, *, git_blob_size: int | None = None) -> None:
        self._git_blob_size = git_blob_size
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far (a download restarted from byte 0)."""
        self._b3 = blake3.blake3()
        self._sha256 = hashlib.sha256()
        self._sha1 = None
        if self._git_blob_size is not None:
            self._sha1 = hashlib.sha1(b"blob %d\0" % self._git_blob_size, usedforsecurity=False)
        self.size = 0

    def update(self, chunk: bytes | memoryview) -> None:
        _update_all([self._b3, self._sha256, self._sha1], chunk)
        self.size += len(chunk)

    def digest(self) -> FileDigest:
        return FileDigest(self.size, str(self._b3.hexdigest()), self._sha256.hexdigest())

    def git_sha1(self) -> str | None:
        return None if self._sha1 is None else self._sha1.hexdigest()


class _Digest(Protocol):
    def update(self, data: bytes | memoryview, /) -> object: ...


def _update_all(digests: list[_Digest | None], chunk: bytes | memoryview) -> None:
    """Feed a chunk to every digest; a large one in parallel (hashlib and blake3 release the GIL), so it
    costs the slowest digest, not the sum."""
    present = [d for d in digests if d is not None]
    if len(chunk) < _PARALLEL_CHUNK or len(present) == 1:
        for digest in present:
            digest.update(chunk)
        return
    others = [_pool().submit(d.update, chunk) for d in present[1:]]
    present[0].update(chunk)
    for done in others:
        done.result()


def blake3_file(
    path: str | os.PathLike[str], expected_size: int | None = None, *, nofollow: bool = False
) -> str | None:
    """BLAKE3 of a file at the speed of the hardware (method chosen by size); None if its size is not
    `expected_size`, so a wrong-sized file is never read. With `nofollow`, a symlink is an OSError (ELOOP)
    and the bytes hashed are those of the file opened, never of a path looked up again."""
    fd = os.open(path, os.O_RDONLY | (os.O_NOFOLLOW if nofollow else 0))
    with open(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if expected_size is not None and size != expected_size:
            return None
        if size < _SMALL_FILE:
            return str(blake3.blake3(f.read()).hexdigest())
        if nofollow:
            return _blake3_fd(f, size)
    threads = blake3.blake3.AUTO if size >= _MEDIUM_FILE else 1
    return str(blake3.blake3(max_threads=threads).update_mmap(os.fspath(path)).hexdigest())


def _blake3_fd(f: BinaryIO, size: int) -> str:
    import mmap

    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
        threads = blake3.blake3.AUTO if size >= _MEDIUM_FILE else 1
        return str(blake3.blake3(view, max_threads=threads).hexdigest())


def blake3_bytes(data: bytes) -> str:
    return str(blake3.blake3(data).hexdigest())


def file_digests(path: str | os.PathLike[str], *, git: bool = False) -> tuple[str, str | None]:
    """SHA-256 (and, with `git`, the git blob SHA-1) of a file, never through a symlink."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with open(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        sha = hashlib.sha256()
        sha1 = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False) if git else None
        while chunk := f.read(8 * 1024 * 1024):
            _update_all([sha, sha1], chunk)
    return sha.hexdigest(), sha1.hexdigest() if sha1 is not None else None
