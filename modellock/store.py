"""The content-addressed store: blobs named by their BLAKE3, written once, atomically."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modellock import atomic
from modellock.hashing import FileDigest, StreamHasher, blake3_file

STORE_ENV = "MODELLOCK_CACHE_DIR"
# Blobs carry a fixed mtime (as in the Nix store): any later write changes it, so a stat
# tells whether a blob may have been modified without reading its bytes.
BLOB_MTIME_NS = 1_000_000_000


def default_store_root(setting: str | None = None, project_dir: Path | None = None) -> Path:
    """`MODELLOCK_CACHE_DIR`, else the manifest's `settings.store`, else the user cache directory."""
    env = os.environ.get(STORE_ENV)
    if env:
        return Path(env).expanduser()
    if setting:
        path = Path(setting).expanduser()
        return path if path.is_absolute() or project_dir is None else project_dir / path
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "modellock"


@dataclass(frozen=True)
class IndexEntry:
    """A blob the index points at, with the digests the lock needs."""

    blake3: str
    sha256: str
    size: int


_WRITEBACK_STEP = 64 * 1024 * 1024


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`: queue the range for disk without waiting."""
    global _sync_file_range
    if _sync_file_range is None:
        if not sys.platform.startswith("linux"):
            _sync_file_range = False
        else:
            import ctypes
            import ctypes.util

            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            _sync_file_range = getattr(libc, "sync_file_range", False)
            if _sync_file_range:
                _sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    if _sync_file_range:
        _sync_file_range(fd, offset, length, 2)  # SYNC_FILE_RANGE_WRITE; a failure only loses the head start


_sync_file_range: Any = None


class PartialBlob:
    """A blob being written: bytes go to a private temporary file and are hashed on the way."""

    def __init__(self, store: Store, git_blob_size: int | None, sha256: bool = True) -> None:
        self._store = store
        # The pid in the name lets a later run tell a dead process's leftovers from a live download.
        import tempfile

        fd, name = tempfile.mkstemp(dir=store.tmp_dir, prefix=f"partial-{os.getpid()}-")
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self.hasher = StreamHasher(git_blob_size=git_blob_size, sha256=sha256)
        self._flushed = 0

    @property
    def written(self) -> int:
        return self.hasher.size

    def write(self, chunk: bytes | memoryview) -> None:
        self._file.write(chunk)
        self.hasher.update(chunk)
        if self.hasher.size - self._flushed >= _WRITEBACK_STEP:
            # Start writing back what has arrived, so the fsync at the end waits for little.
            self._file.flush()
            _start_writeback(self._file.fileno(), self._flushed, self.hasher.size - self._flushed)
            self._flushed = self.hasher.size

    def restart(self) -> None:
        """Throw away what was written (the server could not resume)."""
        self._file.seek(0)
        self._file.truncate()
        self.hasher.reset()

    def commit(self, sha256: str = "") -> FileDigest:
        """Move the bytes into the store under their BLAKE3; a racing writer of the same bytes is harmless.

        `sha256` is the known SHA-256 when the hasher did not compute one.
        """
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        digest = self.hasher.digest(sha256)
        target = self._store.blob_path(digest.blake3)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o444)
        os.utime(self.path, ns=(BLOB_MTIME_NS, BLOB_MTIME_NS))
        os.replace(self.path, target)
        if self.hasher.computes_sha256:  # a digest enters the index only if we computed it from the bytes
            self._store.remember("sha256", digest.sha256, digest)
        return digest

    def discard(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _path_key(path: Path) -> str:
    """A file name for an absolute path (locks and targets are tracked by where they are)."""
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]


class Store:
    """Blobs at `blobs/<b3[:2]>/<b3>`, an index from SHA-256 to BLAKE3, and a scratch directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"

    @contextlib.contextmanager
    def held(self, *, exclusive: bool = False) -> Iterator[None]:
        """Hold the store: shared by every `lock` and `sync` (they add blobs no lock names yet), exclusive
        for `cache prune`, which therefore waits for them and never deletes a blob one has just fetched."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".in-use.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def blob_path(self, blake3: str) -> Path:
        return self.root / "blobs" / blake3[:2] / blake3

    def _lstat(self, blake3: str) -> os.stat_result | None:
        """The blob's own stat, or None unless it is a regular file (a planted symlink is not a blob)."""
        try:
            st = os.lstat(self.blob_path(blake3))
        except FileNotFoundError:
            return None
        return st if stat.S_ISREG(st.st_mode) else None

    def has(self, blake3: str, size: int) -> bool:
        st = self._lstat(blake3)
        return st is not None and st.st_size == size

    def intact(self, blake3: str, size: int) -> bool:
        """The blob exists and its size and mtime are as written; a deep check is `verify_blob`."""
        st = self._lstat(blake3)
        return st is not None and st.st_size == size and st.st_mtime_ns == BLOB_MTIME_NS

    def verify_blob(self, blake3: str) -> bool:
        """Re-hash a blob; False if it is missing, not a regular file, or its bytes no longer match its name."""
        try:
            return self._lstat(blake3) is not None and blake3_file(self.blob_path(blake3), nofollow=True) == blake3
        except (FileNotFoundError, OSError):
            return False

    def reseal(self, blake3: str) -> None:
        """Restore the written-state mtime of a blob whose bytes were just re-verified."""
        os.utime(self.blob_path(blake3), ns=(BLOB_MTIME_NS, BLOB_MTIME_NS), follow_symlinks=False)

    def evict(self, blake3: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.blob_path(blake3).unlink()

    def blobs(self) -> list[str]:
        """Every blob name in the store."""
        root = self.root / "blobs"
        if not root.is_dir():
            return []
        return sorted(p.name for d in root.iterdir() if d.is_dir() for p in d.iterdir())

    def register_lock(self, lock_path: Path) -> None:
        """Remember a lock that uses this store, so `cache prune` keeps what it references."""
        entry = self.root / "locks" / _path_key(lock_path)
        if not entry.exists():
            atomic.write_text(entry, f"{lock_path.resolve()}\n")

    def target_lock(self, target: Path) -> Path:
        """The lock file that serialises installs into one target (kept here, not in the user's tree)."""
        path = self.root / "target-locks" / f"{_path_key(target)}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _installs_path(self, lock_path: Path) -> Path:
        return self.root / "installs" / f"{_path_key(lock_path)}.json"

    def read_installs(self, lock_path: Path) -> dict[str, str]:
        """Where syncs of this lock installed each model (so a model dropped from the lock can go)."""
        import json

        try:
            data = json.loads(self._installs_path(lock_path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def write_installs(self, lock_path: Path, installs: dict[str, str]) -> None:
        import json

        atomic.write_text(self._installs_path(lock_path), json.dumps(installs, sort_keys=True))

    def known_locks(self) -> list[Path]:
        """Registered locks that still exist; entries of vanished ones are dropped."""
        root = self.root / "locks"
        found = []
        for entry in sorted(root.iterdir()) if root.is_dir() else []:
            if entry.name.startswith("."):
                continue  # a write in progress
            path = Path(entry.read_text(encoding="utf-8").strip())
            if path.exists():
                found.append(path)
            else:
                entry.unlink(missing_ok=True)
        return found

    def drop_stale_index(self) -> None:
        """Remove index entries whose blob is gone."""
        root = self.root / "index"
        for entry in root.rglob("*") if root.is_dir() else []:
            if entry.is_file():
                try:
                    b3 = entry.read_text().split()[0]
                except (OSError, IndexError):
                    b3 = ""
                if not b3 or not self.blob_path(b3).exists():
                    entry.unlink(missing_ok=True)

    def _index_path(self, kind: str, key: str) -> Path:
        return self.root / "index" / kind / key[:2] / key

    def lookup(self, kind: str, key: str, size: int) -> IndexEntry | None:
        """A blob already holding the bytes whose `kind` digest (sha256, git-sha1) is `key`."""
        try:
            b3, sha256, recorded = self._index_path(kind, key).read_text().split()
        except (FileNotFoundError, ValueError):
            return None
        if int(recorded) != size or not self.has(b3, size):
            return None
        return IndexEntry(b3, sha256, size)

    def remember(self, kind: str, key: str, digest: FileDigest) -> None:
        """Record that verified bytes with this `kind` digest live in blob `digest.blake3`."""
        atomic.write_text(self._index_path(kind, key), f"{digest.blake3} {digest.sha256} {digest.size}\n")

    def clean_partials(self) -> None:
        """Remove partial downloads of processes that no longer run (a killed sync or lock)."""
        if not self.tmp_dir.is_dir():
            return
        for entry in self.tmp_dir.iterdir():
            pid = entry.name.split("-")[1] if entry.name.startswith("partial-") else ""
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
                entry.unlink(missing_ok=True)

    @contextlib.contextmanager
    def partial(self, *, git_blob_size: int | None = None, sha256: bool = True) -> Iterator[PartialBlob]:
        """A new partial blob, removed again unless committed."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        blob = PartialBlob(self, git_blob_size, sha256)
        try:
            yield blob
        finally:
            blob.discard()
