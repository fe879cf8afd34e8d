"""Repositories as git would hold them: commits of files, regular or LFS, and movable refs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".ckpt", ".onnx", ".h5", ".msgpack")


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class Blob:
    """One file's bytes and the identities the Hub derives from them."""

    data: bytes
    lfs: bool

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @cached_property
    def pointer(self) -> bytes:
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n".encode()

    @cached_property
    def oid(self) -> str:
        return git_sha1(self.pointer if self.lfs else self.data)

    def tree_entry(self, path: str) -> dict[str, object]:
        entry: dict[str, object] = {"type": "file", "oid": self.oid, "size": len(self.data), "path": path}
        if self.lfs:
            entry["lfs"] = {"oid": self.sha256, "size": len(self.data), "pointerSize": len(self.pointer)}
        return entry


@dataclass
class Repo:
    """A repository: commits by id, branches, tags and PR refs, plus who may read it."""

    repo_id: str
    repo_type: str = "model"
    commits: dict[str, dict[str, Blob]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    prs: dict[int, str] = field(default_factory=dict)
    parents: dict[str, str | None] = field(default_factory=dict)
    private: bool = False
    gated: bool = False
    tokens: set[str] = field(default_factory=set)
    """Tokens with read access (private repos) or approved access (gated repos)."""
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Model card YAML metadata per commit (what the Hub serves as `cardData`)."""
    scans: dict[str, Any] = field(default_factory=dict)
    """`securityFileStatus` per path, at every commit (the Hub scans blobs and may re-scan); None omits it."""

    def scan_of(self, path: str) -> Any:
        """What `tree?expand=true` says about `path`: the override, or a clean scan as the Hub reports one."""
        if path in self.scans:
            return self.scans[path]
        found: dict[str, Any] = {
            "status": "safe",
            "avScan": {"virusFound": False, "virusNames": None},
            "protectAiScan": {"status": "safe", "message": "", "reportLink": "", "reportLabel": ""},
            "jFrogScan": {"status": "unscanned"},
            "virusTotalScan": {"status": "safe"},
        }
        if path.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt")):
            found["pickleImportScan"] = {"highestSafetyLevel": "innocuous", "imports": []}
        return found

    def commit(
        self,
        files: dict[str, bytes | tuple[bytes, bool]],
        *,
        branch: str | None = "main",
        keep: bool = False,
        parent: str | None = None,
        card: dict[str, Any] | None = None,
    ) -> str:
        """Make a commit on `branch` with `files` (added to the parent's when `keep`) and move the branch.

        `branch=None` with a `parent` makes a commit no branch points at (open a PR with it, or tag it).
        """
        parent = parent or (self.branches.get(branch) if branch else None)
        tree: dict[str, Blob] = dict(self.commits[parent]) if keep and parent else {}
        for path, value in files.items():
            data, lfs = value if isinstance(value, tuple) else (value, path.endswith(WEIGHT_SUFFIXES))
            tree[path] = Blob(data, lfs)
        seed = f"{self.repo_id}\0{parent}\0{len(self.commits)}\0" + "\0".join(sorted(tree))
        commit_id = hashlib.sha1(seed.encode()).hexdigest()
        self.commits[commit_id] = tree
        self.parents[commit_id] = parent
        if card is not None:
            self.cards[commit_id] = card
        elif keep and parent in self.cards:
            self.cards[commit_id] = self.cards[parent]
        if branch:
            self.branches[branch] = commit_id
        return commit_id

    def history(self, revision: str) -> list[str]:
        """Commits reachable from `revision`, newest first (first parents only: the Hub's history is linear)."""
        found = []
        commit = self.resolve(revision)
        while commit is not None:
            found.append(commit)
            commit = self.parents.get(commit)
        return found

    def resolve(self, revision: str) -> str | None:
        if revision in self.commits:
            return revision
        if revision.startswith("refs/pr/"):
            number = revision.removeprefix("refs/pr/")
            return self.prs.get(int(number)) if number.isdigit() else None
        found = self.branches.get(revision) or self.tags.get(revision)
        if found is None and 7 <= len(revision) < 40 and all(c in "0123456789abcdef" for c in revision):
            # The Hub resolves a unique hash prefix (huggingface_hub #197, fixed server-side in 2023).
            matches = [c for c in self.commits if c.startswith(revision)]
            found = matches[0] if len(matches) == 1 else None
        return found
