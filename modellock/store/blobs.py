"""The content-addressed store: blobs named by their BLAKE3, written once, atomically."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modellock import jsonread
from modellock.store import atomic
from modellock.store.hashing import FileDigest, blake3_file, file_digests
from modellock.store.leftovers import pid_alive
from modellock.store.partial import PartialBlob, idle
from modellock.store.seal import seal, sealed

STORE_ENV = "MODELLOCK_CACHE_DIR"
# Partials of dead processes are kept this long for a later run to resume.
RESUMABLE_S = 24 * 3600


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


def open_store(setting: str | None = None, project_dir: Path | None = None) -> Store:
    """The store `default_store_root` names. One that the manifest puts inside the project could
    arrive in a pull request, blobs and records included, so nothing in it is believed unhashed."""
    root = default_store_root(setting, project_dir)
    inside = (
        setting is not None
        and project_dir is not None
        and not os.environ.get(STORE_ENV)
        and Path(os.path.realpath(root)).is_relative_to(os.path.realpath(project_dir))
    )
    return Store(root, verify_all=inside)


@dataclass(frozen=True)
class IndexEntry:
    """A blob the index points at, with the digests the lock needs."""

    blake3: str
    sha256: str
    size: int


def _path_key(path: Path) -> str:
    """A file name for an absolute path (locks and targets are tracked by where they are)."""
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]


class Store:
    """Blobs at `blobs/<b3[:2]>/<b3>`, an index from SHA-256 to BLAKE3, and a scratch directory."""

    def __init__(self, root: Path, *, verify_all: bool = False) -> None:
        self.root = root
        self.verify_all = verify_all
        """Re-hash every blob before use and ignore recorded digests (a store that may be hostile)."""
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
        if self.verify_all or st is None or st.st_size != size:
            return False
        return sealed(st, blake3, self.tmp_dir)

    def verify_blob(self, blake3: str) -> bool:
        """Re-hash a blob; False if it is missing, not a regular file, or its bytes no longer match its name."""
        try:
            return self._lstat(blake3) is not None and blake3_file(self.blob_path(blake3), nofollow=True) == blake3
        except (FileNotFoundError, OSError):
            return False

    def reseal(self, blake3: str) -> None:
        """Restore the written-state mtime of a blob whose bytes were just re-verified."""
        seal(self.blob_path(blake3), blake3)

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

        try:
            data = jsonread.loads(self._installs_path(lock_path).read_text(encoding="utf-8"), "installs")
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

    def sha256_of(self, blake3: str, size: int) -> str | None:
        """The SHA-256 of a blob's bytes as modellock computed them: recorded when the blob was written,
        else hashed now (and recorded); None if there is no such blob.

        This binds a blob's BLAKE3 name to its SHA-256, so a lock that pairs one file's BLAKE3 with
        another file's SHA-256 (the one the Hub and signatures vouch for) cannot install it.
        """
        found = None if self.verify_all else self.lookup("blake3", blake3, size)
        if found is not None and found.blake3 == blake3:
            return found.sha256
        if not self.has(blake3, size):
            return None
        try:
            sha256, _ = file_digests(self.blob_path(blake3))
        except OSError:
            return None
        self.remember("blake3", blake3, FileDigest(size, blake3, sha256))
        return sha256

    def git_sha1_of(self, blake3: str, size: int) -> str | None:
        """The git blob id of a blob's bytes, hashed now (regular files are small); None if absent."""
        if not self.has(blake3, size):
            return None
        try:
            return file_digests(self.blob_path(blake3), git=True)[1]
        except OSError:
            return None

    def remember(self, kind: str, key: str, digest: FileDigest) -> None:
        """Record that verified bytes with this `kind` digest live in blob `digest.blake3`."""
        atomic.write_text(self._index_path(kind, key), f"{digest.blake3} {digest.sha256} {digest.size}\n")

    def _partials(self) -> Iterator[tuple[Path, int, str]]:
        """(path, pid, key) of every partial download; key `_` where it cannot be resumed."""
        if not self.tmp_dir.is_dir():
            return
        for entry in self.tmp_dir.iterdir():
            parts = entry.name.split("-")
            if parts[0] == "partial" and len(parts) >= 3 and parts[1].isdigit():
                yield entry, int(parts[1]), parts[2] if len(parts) == 4 else "_"

    def tidy(self) -> None:
        """Remove what killed runs left in the store's small directories (temporary files, dead partials)."""
        for name in ("locks", "installs", "target-locks"):
            atomic.clean_temps(self.root / name)
        self.clean_partials()

    def clean_partials(self) -> None:
        """Remove partial downloads of processes that no longer run, except recent resumable ones."""
        for entry, pid, key in self._partials():
            if pid == os.getpid() or pid_alive(pid):
                continue
            with contextlib.suppress(FileNotFoundError):
                if key == "_" or time.time() - entry.stat().st_mtime > RESUMABLE_S:
                    entry.unlink()
        # Records whose partial is gone (removed, committed, or renamed away by a claimant that then died),
        # and mtime probes (`seal.keeps_nanoseconds`) of processes killed in the middle of one.
        if self.tmp_dir.is_dir():
            for entry in self.tmp_dir.glob(".mtime-probe-*"):
                owner = entry.name.split("-")[2]
                if owner.isdigit() and not pid_alive(int(owner)):
                    with contextlib.suppress(FileNotFoundError):
                        entry.unlink()
            for entry in self.tmp_dir.glob("ranges-*"):
                partial = entry.with_name("partial" + entry.name[len("ranges") :])
                if not partial.exists():
                    with contextlib.suppress(FileNotFoundError):
                        entry.unlink()

    def claim_partial(self, key: str, new_path: Path) -> Path | None:
        """Take over a dead process's partial download of `key` by renaming it (atomic: one claimant wins).

        Returns the name it had, whose side record the claimant moves next."""
        for entry, pid, found in self._partials():
            if found != key or not idle(pid, entry):
                continue
            try:
                os.rename(entry, new_path)
            except FileNotFoundError:
                continue  # another run claimed it first
            return entry
        return None

    def kept_partials(self) -> list[tuple[Path, int]]:
        """This process's partial downloads still on disk, with their sizes."""
        found = []
        for entry, pid, key in self._partials():
            if pid == os.getpid() and key != "_":
                with contextlib.suppress(FileNotFoundError):
                    st = os.lstat(entry)
                    found.append((entry, min(st.st_size, st.st_blocks * 512)))
        return found

    def resumable(self) -> dict[str, int]:
        """Bytes of each resumable partial download, by key (one directory listing for all jobs)."""
        found: dict[str, int] = {}
        for entry, pid, key in self._partials():
            if key != "_" and idle(pid, entry):
                with contextlib.suppress(FileNotFoundError):
                    st = os.lstat(entry)
                    # A partial fetched in ranges has holes: count the blocks it holds, not its length.
                    found[key] = max(found.get(key, 0), min(st.st_size, st.st_blocks * 512))
        return found

    @contextlib.contextmanager
    def partial(
        self, *, git_blob_size: int | None = None, key: str | None = None, size: int | None = None
    ) -> Iterator[PartialBlob]:
        """A partial blob, removed again unless committed; with a `key`, kept for resuming unless its bytes were bad."""
        from modellock.errors import IntegrityError

        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        blob = PartialBlob(self, git_blob_size, key, size)
        try:
            yield blob
        except IntegrityError:
            blob.discard()
            raise
        except BaseException:
            if key is not None and blob.written:
                blob.keep()
            else:
                blob.discard()
            raise
        blob.discard()  # a no-op after commit
