"""`outdated`: what upstream has that the lock does not, from refs and commit lists only (no model bytes).

A newer commit never makes the lock stale (locks are sticky); this only tells people what
`lock --upgrade` would move, the way `uv tree --outdated` and `cargo outdated` do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from modellock.project.lockfile import LockedModel, Lockfile
from modellock.sources.interface import RepoRef, Source

HISTORY_LIMIT = 500
"""Commits walked per ref before giving up on finding the locked one (a long-moved branch)."""
_COMMIT = re.compile(r"^[0-9a-f]{40}\Z")


@dataclass(frozen=True)
class NewerTag:
    name: str
    commit: str


@dataclass(frozen=True)
class ModelUpdates:
    """What upstream has beyond one locked model's commit."""

    name: str
    repo: str
    requested: str
    commit: str
    kind: str
    """What `requested` is upstream now: `branch`, `tag`, `pull-request`, `commit`, or `missing` (deleted)."""
    head: str
    """The commit `requested` names now (empty for a pinned commit or a missing ref)."""
    behind: int | None
    """Commits on the branch after the locked one; None if the locked commit is no longer in its history."""
    newer_tags: tuple[NewerTag, ...]
    """Tags on commits that descend from the locked one, newest first."""

    @property
    def outdated(self) -> bool:
        moved = bool(self.head) and self.head != self.commit
        return moved or bool(self.newer_tags) or self.kind == "missing"


@dataclass(frozen=True)
class OutdatedReport:
    models: tuple[ModelUpdates, ...]

    @property
    def outdated(self) -> tuple[ModelUpdates, ...]:
        return tuple(m for m in self.models if m.outdated)


def _position(history: Iterator[str], commit: str) -> int | None:
    """How many commits come before `commit` in `history` (newest first), or None if not within the limit."""
    for index, seen in enumerate(history):
        if seen == commit:
            return index
        if index >= HISTORY_LIMIT:
            return None
    return None


def _check(source: Source, m: LockedModel) -> ModelUpdates:
    ref = RepoRef(m.repo, m.repo_type)
    refs = source.refs(ref)
    if m.requested in refs.branches:
        kind, head = "branch", refs.branches[m.requested]
    elif m.requested in refs.tags:
        kind, head = "tag", refs.tags[m.requested]
    elif m.requested in refs.pull_requests:
        kind, head = "pull-request", refs.pull_requests[m.requested]
    elif _COMMIT.match(m.requested):
        kind, head = "commit", ""
    else:
        kind, head = "missing", ""
    behind = 0 if head in ("", m.commit) else _position(source.history(ref, head), m.commit)
    newer = []
    for tag, target in refs.tags.items():
        if target == m.commit or tag == m.requested:
            continue
        distance = _position(source.history(ref, target), m.commit)
        if distance:
            newer.append((distance, tag, target))
    tags = tuple(NewerTag(tag, target) for _, tag, target in sorted(newer, key=lambda t: (-t[0], t[1])))
    return ModelUpdates(m.name, m.repo, m.requested, m.commit, kind, head, behind, tags)


def find_outdated(
    lock: Lockfile, sources: Callable[[str], Source], *, models: tuple[str, ...] = ()
) -> OutdatedReport:
    """For every locked model (or those named), what its ref and tags point at now."""
    chosen = [m for m in lock.models if not models or m.name in models]
    return OutdatedReport(tuple(_check(sources(m.source), m) for m in chosen))
