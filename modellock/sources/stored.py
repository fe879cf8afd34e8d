"""File listings kept in the store, so `lock --offline` can re-lock without the network.

Online, every listing `lock` reads is recorded under `<store>/listings/`. Offline, a locked
commit's listing comes from there, and every file must already be in the store. A listing is
only a claim about names and sizes: the bytes it leads to were hashed when they were stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from modellock import jsonread
from modellock.download.location import Target
from modellock.errors import NetworkError
from modellock.sources.interface import CardLineage, Refs, RemoteFile, RepoRef, Source
from modellock.store import atomic
from modellock.store.blobs import Store

_COMMIT_CHARS = frozenset("0123456789abcdef")


def _listing_path(store: Store, source: str, ref: RepoRef, commit: str) -> Path:
    repo = hashlib.sha256(f"{source}\0{ref.repo_type}\0{ref.repo}".encode()).hexdigest()[:32]
    return store.root / "listings" / repo / f"{commit}.json"


def _read_lineage(store: Store, source: str, ref: RepoRef, commit: str) -> CardLineage | None:
    """The card lineage recorded for a commit (a commit's card never changes), or None."""
    path = _listing_path(store, source, ref, commit).with_suffix(".lineage.json")
    try:
        data = jsonread.loads(path.read_text(encoding="utf-8"), str(path))
        card = data["card"]
        problem = data.get("problem", "")
        return CardLineage(card if isinstance(card, dict) else {}, data["base_models"], str(problem))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


class RecordingSource(Source):
    """Another source, whose file listings are also written to the store."""

    def __init__(self, inner: Source, store: Store) -> None:
        self.name = inner.name
        self._inner = inner
        self._store = store

    def resolve(self, ref: RepoRef, revision: str) -> str:
        return self._inner.resolve(ref, revision)

    def list_files(self, ref: RepoRef, commit: str, *, scans: bool = False) -> list[RemoteFile]:
        files = self._inner.list_files(ref, commit, scans=scans)
        data = [[f.path, f.size, f.git_oid, f.lfs_sha256, f.version_id, f.etag] for f in files]
        atomic.write_text(_listing_path(self._store, self.name, ref, commit), json.dumps(data))
        return files

    @property
    def location(self) -> str:
        return self._inner.location

    def refs(self, ref: RepoRef) -> Refs:
        return self._inner.refs(ref)

    def history(self, ref: RepoRef, revision: str) -> Iterator[str]:
        return self._inner.history(ref, revision)

    def fetch(
        self, ref: RepoRef, commit: str, file: RemoteFile, target: Target, *, connections: int | None = None
    ) -> None:
        self._inner.fetch(ref, commit, file, target, connections=connections)

    def lineage(self, ref: RepoRef, commit: str) -> CardLineage:
        found = _read_lineage(self._store, self.name, ref, commit)
        if found is not None:
            return found
        found = self._inner.lineage(ref, commit)
        path = _listing_path(self._store, self.name, ref, commit).with_suffix(".lineage.json")
        record = {"card": dict(found.card), "base_models": found.base_models, "problem": found.problem}
        atomic.write_text(path, json.dumps(record, default=str))
        return found


class OfflineSource(Source):
    """The store's recorded listings, and nothing from the network."""

    def __init__(self, name: str, store: Store) -> None:
        self.name = name
        self._store = store

    def resolve(self, ref: RepoRef, revision: str) -> str:
        if len(revision) == 40 and set(revision) <= _COMMIT_CHARS:
            return revision
        raise NetworkError(
            f"--offline: cannot resolve {ref.repo}@{revision} without the network",
            hint="pin a 40-hex commit in `revision`, or run `modellock lock` without --offline",
        )

    def list_files(self, ref: RepoRef, commit: str, *, scans: bool = False) -> list[RemoteFile]:
        # The store keeps no scans: offline, the Hub's scan is unknown and nothing is recorded.
        path = _listing_path(self._store, self.name, ref, commit)
        try:
            data = jsonread.loads(path.read_text(encoding="utf-8"), str(path))
            return [
                RemoteFile(str(p), int(size), str(oid), str(lfs) if lfs else None, None, *(str(v) for v in pins))
                for p, size, oid, lfs, *pins in data  # S3 pins since lock revision 4
            ]
        except (OSError, ValueError, TypeError) as exc:
            raise NetworkError(
                f"--offline: the store has no file listing of {ref.repo}@{commit[:7]}"
                + ("" if isinstance(exc, FileNotFoundError) else " that can be read"),
                hint="run `modellock lock` once with network access",
            ) from None

    @property
    def location(self) -> str:
        return f"the store at {self._store.root}"

    def lineage(self, ref: RepoRef, commit: str) -> CardLineage:
        # Without a recorded answer the card is unknown offline: only adapter_config.json declares parents.
        return _read_lineage(self._store, self.name, ref, commit) or CardLineage()

    def refs(self, ref: RepoRef) -> Refs:
        raise NetworkError(f"--offline: cannot list the refs of {ref.repo} without the network")

    def history(self, ref: RepoRef, revision: str) -> Iterator[str]:
        raise NetworkError(f"--offline: cannot read the history of {ref.repo}@{revision} without the network")

    def fetch(
        self, ref: RepoRef, commit: str, file: RemoteFile, target: Target, *, connections: int | None = None
    ) -> None:
        raise NetworkError(
            f"--offline: {file.path} of {ref.repo}@{commit[:7]} is not in the store",
            hint="run `modellock lock` once with network access",
        )
