"""A blob being downloaded: written to a private temporary file, hashed on the way, renamed into place."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from modellock.errors import IntegrityError, ModellockError
from modellock.store import atomic
from modellock.store.frontier import Frontier
from modellock.store.hashing import FileDigest, StreamHasher
from modellock.store.leftovers import pid_alive
from modellock.store.seal import seal

if TYPE_CHECKING:
    from modellock.store.blobs import Store

_RECORD_MAX = 1024 * 1024


def record_step(size: int | None) -> int:
    """Bytes landed between two rewrites of the range record: what a kill -9 can lose.

    A 64th of the file (1.6 %), at least 64 KiB, at most 8 MiB: a 20 GiB file costs 2,560 small
    writes and renames, each far cheaper than the 8 MiB that lands between them.
    """
    if size is None:
        return 8 * 1024 * 1024
    return max(64 * 1024, min(8 * 1024 * 1024, size // 64))


class PartialBlob:
    """A blob being written: bytes land at their offsets in a private temporary file, hashed in order.

    With a `key` (the digest the bytes must have, e.g. `b3_<hex>`), an interrupted download is kept
    under that key, with a side record of the byte ranges that had landed, and a later run resumes
    it: the kept bytes are read back and hashed again (never trusted), and whatever does not fit
    the record or `size` is thrown away.

    What a kill at any moment leaves is resumable: a file written in order from byte 0 is its own
    record (its length), and before the first byte lands anywhere else a record exists; it is
    rewritten after the bytes it names were written (never before), every `record_step` bytes.
    The data is not fsynced for the record: after a crash of the machine the record may name bytes
    the disk lost, which the re-hash of every kept byte catches (one clean download).
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
        claimed = store.claim_partial(key, self.path) if key is not None else None
        if claimed is not None:
            with contextlib.suppress(FileNotFoundError):
                os.rename(record_path(claimed), record_path(self.path))
        fd = self._open_kept() if claimed is not None else None
        if fd is None:
            claimed = None
            if os.path.lexists(self.path):  # what was claimed could not be removed: use another name
                _ACTIVE.discard(self.path)
                self.path = self.path.with_name(f"partial-{os.getpid()}-{key or '_'}-{os.urandom(4).hex()}")
                _ACTIVE.add(self.path)
            fd = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW | os.O_CREAT | os.O_EXCL, 0o600)
        self._fd = fd
        self._closed = False
        self._fd_users = threading.Condition()
        self._writing = 0
        self._frontier = Frontier(self._fd, self.hasher)
        self._record_mutex = threading.Lock()
        self._step = record_step(size)
        self._recorded_at = 0
        """`written` when the record was last rewritten."""
        self._has_record = False
        kept = self._kept_ranges() if claimed is not None else []
        if claimed is not None and not kept:
            os.ftruncate(self._fd, 0)
            _remove(record_path(self.path))  # whatever it was, it is not a record of these bytes
        for start, end in kept:
            self._frontier.adopt(start, end)  # counted as landed; read back and hashed like any other bytes
        self.resumed = self.written
        """Bytes taken over from an earlier, interrupted run."""

    @property
    def written(self) -> int:
        """Bytes landed so far (kept ones included)."""
        return self._frontier.landed_bytes

    def present(self) -> list[tuple[int, int]]:
        return self._frontier.ranges

    def write_at(self, offset: int, chunk: bytes | memoryview) -> None:
        view = memoryview(chunk)
        if self.key is not None and not self._has_record and not self._frontier.extends_prefix(offset):
            # Before the first byte lands beyond the prefix: a partial without a record is read as
            # a prefix, which this file would no longer be.
            self._record()
        try:
            with self._fd_users:
                # A connection still finishing a chunk after the blob was kept or thrown away must not
                # write through a descriptor number the process may have reused for another file.
                if self._closed:
                    raise OSError(errno.EBADF, "the partial download was closed")
                self._writing += 1
            try:
                done = 0
                while done < len(view):
                    done += os.pwrite(self._fd, view[done:], offset + done)
            finally:
                with self._fd_users:
                    self._writing -= 1
                    self._fd_users.notify_all()
        except OSError as exc:
            from modellock.store.diskspace import write_failed

            remaining = self._expected - offset if self._expected is not None else len(chunk)
            raise write_failed(exc, self.path, remaining) from None
        self._frontier.landed(offset, chunk)
        if self._has_record and self.written - self._recorded_at >= self._step:
            self._record()

    def restart(self) -> None:
        """Throw away what was written (the server could not resume, or resumed bytes were bad)."""
        self._frontier.reset()
        os.ftruncate(self._fd, 0)
        self.hasher.reset()
        self.resumed = 0
        # Truncated first: a record of bytes no longer there is refused by the next run, holes are not.
        with contextlib.suppress(FileNotFoundError):
            record_path(self.path).unlink()
        self._has_record, self._recorded_at = False, 0

    def digest(self) -> FileDigest:
        """The digests of the landed prefix (every byte, once the download is complete)."""
        self._frontier.finish()
        return self.hasher.digest()

    def commit(self) -> FileDigest:
        """Move the bytes into the store under their BLAKE3; a racing writer of the same bytes is harmless."""
        digest = self.digest()
        try:
            length = os.fstat(self._fd).st_size
            if length != digest.size:
                # Bytes beyond the hashed ones would sit under a name they do not hash to.
                raise IntegrityError(
                    f"the downloaded file holds {length} bytes, {digest.size} were hashed",
                    hint="nothing was stored; run the command again",
                )
            os.fsync(self._fd)
        except OSError as exc:
            from modellock.store.diskspace import write_failed

            raise write_failed(exc, self.path, 0) from None
        self._close()
        target = self._store.blob_path(digest.blake3)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o444)
        seal(self.path, digest.blake3)
        os.replace(self.path, target)
        with contextlib.suppress(FileNotFoundError):
            record_path(self.path).unlink()
        # Both digests were computed here from the bytes: the only way a pairing enters the index.
        self._store.remember("sha256", digest.sha256, digest)
        self._store.remember("blake3", digest.blake3, digest)
        return digest

    def keep(self) -> int:
        """Leave the bytes, and the record of which ranges landed, for a later run; returns how many."""
        self._frontier.stop()
        if self._has_record or not self._frontier.is_prefix():
            # Best effort (the disk may be full): without its record a partial is read as a prefix, and
            # the hash check throws it away if that is wrong.
            with contextlib.suppress(OSError, ModellockError):
                self._record()
        self._close()
        _ACTIVE.discard(self.path)
        return self.written

    def discard(self) -> None:
        self._frontier.stop()
        self._close()
        _ACTIVE.discard(self.path)
        for path in (self.path, record_path(self.path)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _close(self) -> None:
        """Close the descriptor once no write is using it (writes run in parallel, each at its offset)."""
        with self._fd_users:
            if self._closed:
                return
            self._closed = True
            self._fd_users.wait_for(lambda: self._writing == 0)
            with contextlib.suppress(OSError):
                os.close(self._fd)

    def _record(self) -> None:
        """Rewrite the record with the ranges landed so far (all of them written before this call)."""
        with self._record_mutex:
            written = self.written
            text = json.dumps({"size": self._expected, "ranges": self._frontier.ranges})
            atomic.write_text(record_path(self.path), text + "\n")
            self._has_record, self._recorded_at = True, written

    def _open_kept(self) -> int | None:
        """The claimed partial, opened, if it is a plain file of ours; otherwise it is removed and None.

        A hardlink to a file elsewhere would be truncated and written through; a FIFO would block;
        a directory or a symlink cannot be opened. The store's tmp directory is as hostile as the rest.
        """
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            fd = None
        if fd is not None:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_uid == os.geteuid():
                return fd
            os.close(fd)
        for path in (self.path, record_path(self.path)):
            _remove(path)
        return None

    def _kept_ranges(self) -> list[tuple[int, int]]:
        """The ranges a claimed partial holds: its record's, or (without one) the file's length as a prefix.

        The record is as hostile as the bytes: anything out of order, overlapping, or beyond the
        file or the expected size discards the whole partial.
        """
        length = os.fstat(self._fd).st_size
        limit = min(length, self._expected) if self._expected is not None else length
        try:
            data = json.loads(_read_small(record_path(self.path)))
        except FileNotFoundError:
            # Without a record only a file written in order from byte 0 is resumable; one with a hole
            # was written elsewhere too (its record lost), and only what precedes the hole may count.
            prefix = _before_first_hole(self._fd, length)
            return [(0, prefix)] if prefix > 0 and length <= limit else []
        except (OSError, ValueError, RecursionError):
            return []
        ranges = data.get("ranges") if isinstance(data, dict) else None
        if not isinstance(ranges, list) or data.get("size") != self._expected:
            return []
        kept, at = [], 0
        for item in ranges:
            if not (isinstance(item, list) and len(item) == 2 and all(type(v) is int for v in item)):
                return []
            start, end = item
            if not at <= start < end <= limit:
                return []
            kept.append((start, end))
            at = end
        if kept:
            self._has_record = True
            if self._expected is not None and length > self._expected:
                # Bytes beyond the file's end were never part of it: they go, or the blob keeps them.
                os.ftruncate(self._fd, self._expected)
        return kept


def _before_first_hole(fd: int, length: int) -> int:
    """The length of the file, or where its first hole starts less a block (the block holding the
    hole's edge may be half written); without SEEK_HOLE, the length (the re-hash still judges it)."""
    try:
        hole = os.lseek(fd, 0, os.SEEK_HOLE)
    except (OSError, AttributeError):
        return length
    if hole >= length:
        return length
    return max(0, hole - max(4096, os.fstat(fd).st_blksize))


def _read_small(path: Path) -> bytes:
    """A record's bytes: a regular file, never through a symlink, never blocking, at most 1 MiB."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with open(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _RECORD_MAX:
            raise OSError(errno.EINVAL, f"{path} is not a range record")
        return f.read(_RECORD_MAX)


def _remove(path: Path) -> None:
    """Remove what a hostile store put at `path`, whatever it is (a directory's links are not followed)."""
    import shutil

    with contextlib.suppress(OSError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()


def record_path(partial: Path) -> Path:
    """The side record of a partial's landed ranges: `ranges-…` next to `partial-…`."""
    return partial.with_name("ranges" + partial.name[len("partial") :])


# Partials this process is writing right now; any other partial of a dead process, or one this
# process kept after a failure, may be resumed.
_ACTIVE: set[Path] = set()


def idle(pid: int, entry: Path) -> bool:
    return entry not in _ACTIVE if pid == os.getpid() else not pid_alive(pid)
