"""The content-addressed store: blobs named by their BLAKE3, written once, atomically."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modellock.hashing import FileDigest, StreamHasher

STORE_ENV = "MODELLOCK_CACHE_DIR"


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


class PartialBlob:
    """A blob being written: bytes go to a private temporary file and are hashed on the way."""

    def __init__(self, store: Store, git_blob_size: int | None) -> None:
        self._store = store
        fd, name = tempfile.mkstemp(dir=store.tmp_dir, prefix="partial-")
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self.hasher = StreamHasher(git_blob_size=git_blob_size)

    @property
    def written(self) -> int:
        return self.hasher.size

    def write(self, chunk: bytes | memoryview) -> None:
        self._file.write(chunk)
        self.hasher.update(chunk)

    def restart(self) -> None:
        """Throw away what was written (the server could not resume)."""
        self._file.seek(0)
        self._file.truncate()
        self.hasher.reset()

    def commit(self) -> FileDigest:
        """Move the bytes into the store under their BLAKE3; a racing writer of the same bytes is harmless."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        digest = self.hasher.digest()
        target = self._store.blob_path(digest.blake3)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o444)
        os.replace(self.path, target)
        self._store.remember("sha256", digest.sha256, digest)
        return digest

    def discard(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class Store:
    """Blobs at `blobs/<b3[:2]>/<b3>`, an index from SHA-256 to BLAKE3, and a scratch directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"

    def blob_path(self, blake3: str) -> Path:
        return self.root / "blobs" / blake3[:2] / blake3

    def has(self, blake3: str, size: int) -> bool:
        try:
            return self.blob_path(blake3).stat().st_size == size
        except FileNotFoundError:
            return False

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
        path = self._index_path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(f"{digest.blake3} {digest.sha256} {digest.size}\n")
        os.replace(tmp, path)

    @contextlib.contextmanager
    def partial(self, *, git_blob_size: int | None = None) -> Iterator[PartialBlob]:
        """A new partial blob, removed again unless committed."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        blob = PartialBlob(self, git_blob_size)
        try:
            yield blob
        finally:
            blob.discard()
