"""A blob being downloaded: written to a private temporary file, hashed on the way, renamed into place."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from modellock.store.hashing import FileDigest, StreamHasher
from modellock.store.leftovers import pid_alive
from modellock.store.libc import start_writeback
from modellock.store.seal import seal

if TYPE_CHECKING:
    from modellock.store.blobs import Store

_WRITEBACK_STEP = 64 * 1024 * 1024


class PartialBlob:
    """A blob being written: bytes go to a private temporary file and are hashed on the way.

    With a `key` (the digest the bytes must have, e.g. `b3_<hex>`), an interrupted download is kept
    under that key and a later run resumes it: the kept bytes are re-read and re-hashed (never
    trusted), and a partial longer than `size` is thrown away.
    """

    def __init__(
        self,
        store: Store,
        git_blob_size: int | None,
        key: str | None = None,
        size: int | None = None,
    ) -> None:
        self._store = store
        self.key = key
        self._expected = size
        self.hasher = StreamHasher(git_blob_size=git_blob_size)
        # The pid in the name lets a later run tell a dead process's leftovers from a live download.
        self.path = store.tmp_dir / f"partial-{os.getpid()}-{key or '_'}-{os.urandom(4).hex()}"
        _ACTIVE.add(self.path)
        claimed = key is not None and store.claim_partial(key, self.path)
        self._file = open(self.path, "r+b" if claimed else "xb")  # noqa: SIM115 - closed by commit/discard/keep
        if claimed:
            while chunk := self._file.read(1 << 20):
                self.hasher.update(chunk)
            if size is not None and self.hasher.size > size:
                self.restart()
        self.resumed = self.hasher.size
        """Bytes taken over from an earlier, interrupted run."""
        self._flushed = self.hasher.size

    @property
    def written(self) -> int:
        return self.hasher.size

    def write(self, chunk: bytes | memoryview) -> None:
        try:
            self._file.write(chunk)
        except OSError as exc:
            from modellock.store.diskspace import write_failed

            remaining = self._expected - self.hasher.size if self._expected is not None else len(chunk)
            raise write_failed(exc, self.path, remaining) from None
        self.hasher.update(chunk)
        if self.hasher.size - self._flushed >= _WRITEBACK_STEP:
            # Start writing back what has arrived, so the fsync at the end waits for little.
            self._file.flush()
            start_writeback(self._file.fileno(), self._flushed, self.hasher.size - self._flushed)
            self._flushed = self.hasher.size

    def restart(self) -> None:
        """Throw away what was written (the server could not resume, or resumed bytes were bad)."""
        self._file.seek(0)
        self._file.truncate()
        self.hasher.reset()
        self.resumed = self._flushed = 0

    def commit(self) -> FileDigest:
        """Move the bytes into the store under their BLAKE3; a racing writer of the same bytes is harmless."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            from modellock.store.diskspace import write_failed

            raise write_failed(exc, self.path, 0) from None
        self._file.close()
        digest = self.hasher.digest()
        target = self._store.blob_path(digest.blake3)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o444)
        seal(self.path, digest.blake3)
        os.replace(self.path, target)
        # Both digests were computed here from the bytes: the only way a pairing enters the index.
        self._store.remember("sha256", digest.sha256, digest)
        self._store.remember("blake3", digest.blake3, digest)
        return digest

    def keep(self) -> int:
        """Leave the bytes for a later run to resume; returns how many were kept."""
        with contextlib.suppress(OSError):
            self._file.close()
        _ACTIVE.discard(self.path)
        return self.hasher.size

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        _ACTIVE.discard(self.path)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


# Partials this process is writing right now; any other partial of a dead process, or one this
# process kept after a failure, may be resumed.
_ACTIVE: set[Path] = set()


def idle(pid: int, entry: Path) -> bool:
    return entry not in _ACTIVE if pid == os.getpid() else not pid_alive(pid)
