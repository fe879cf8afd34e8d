"""The contract every model source fulfils: resolve a revision, list files, stream bytes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from modellock.download.location import Location, Target
from modellock.project.hubscan import HubScan


@dataclass(frozen=True)
class RepoRef:
    """A repository at a source, independent of any revision."""

    repo: str
    """`org/name` on the Hub."""
    repo_type: str = "model"
    """`model` or `dataset`."""


@dataclass(frozen=True)
class RemoteFile:
    """A file as the source lists it at one commit; its digests are claims we check, never trust."""

    path: str
    """Path inside the repository, `/`-separated."""
    size: int
    """Size in bytes of the file's content."""
    git_oid: str
    """Git blob id: of the content for regular files, of the pointer for LFS files."""
    lfs_sha256: str | None = None
    """SHA-256 of the content for LFS files."""
    hub_scan: HubScan | None = None
    """The source's own scan of the file (the Hub's `securityFileStatus`), when listed with `scans`: evidence only."""
    version_id: str = ""
    """S3: the object version to fetch (empty: the bucket keeps none)."""
    etag: str = ""
    """S3: the ETag the object must still have (names an object, vouches for no content we check)."""


@dataclass(frozen=True)
class Refs:
    """A repository's named refs and the commits they point at right now."""

    branches: Mapping[str, str]
    tags: Mapping[str, str]
    pull_requests: Mapping[str, str]
    """By full ref name, `refs/pr/N`: anyone can open one on any repository."""


@dataclass(frozen=True)
class CardLineage:
    """What the source's metadata says about a repository's parents at one commit (claims to check)."""

    card: Mapping[str, Any] = field(default_factory=dict)
    """The model card's YAML metadata (`base_model`, `base_model_relation`, …)."""
    base_models: Any = None
    """The Hub's `expand=baseModels` answer, raw: `{"relation": ..., "models": [{"id": ...}]}`."""
    problem: str = ""
    """Why the metadata could not be read (then `card` is empty): a note for the user, never an error."""


class Source(ABC):
    """A place models are fetched from (the Hugging Face Hub, later mirrors and local trees)."""

    name: str

    @property
    @abstractmethod
    def location(self) -> str:
        """Where it fetches from (an endpoint URL, the store), for messages."""

    @abstractmethod
    def resolve(self, ref: RepoRef, revision: str) -> str:
        """The 40-hex commit a branch, tag or commit names right now."""

    @abstractmethod
    def list_files(self, ref: RepoRef, commit: str, *, scans: bool = False) -> list[RemoteFile]:
        """Every file in the repository at `commit`, in one listing (no per-file calls).

        `scans` asks for the source's own scan of each file too (a costlier listing on the Hub).
        """

    @abstractmethod
    def refs(self, ref: RepoRef) -> Refs:
        """Every branch, tag and pull-request ref of the repository."""

    @abstractmethod
    def history(self, ref: RepoRef, revision: str) -> Iterator[str]:
        """Commit ids reachable from `revision`, newest first, fetched lazily (stop when found)."""

    @abstractmethod
    def fetch(
        self, ref: RepoRef, commit: str, file: RemoteFile, target: Target, *, connections: int | None = None
    ) -> None:
        """Write one file's bytes at `commit` into `target`, resuming after dropped connections.

        `connections` caps the parallel requests for this file (1: the bytes arrive in order)."""

    def lineage(self, ref: RepoRef, commit: str) -> CardLineage:
        """The card metadata about parents at `commit`; sources without cards have none."""
        return CardLineage()


class HttpSource(Source):
    """A source whose files are served over HTTP: the download engine fetches them (ranges, resume, deadlines)."""

    @abstractmethod
    def locate(self, ref: RepoRef, commit: str, file: RemoteFile) -> Location:
        """Where the file's bytes are, and how to ask; called again when a token or a redirect expires."""

    def fetch(
        self, ref: RepoRef, commit: str, file: RemoteFile, target: Target, *, connections: int | None = None
    ) -> None:
        from modellock.download import fetch

        what = f"{file.path} from {ref.repo}@{commit[:7]}"
        fetch(lambda: self.locate(ref, commit, file), file.size, target, what, connections=connections)
