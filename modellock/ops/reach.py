"""Which of a repository's refs lead to a commit: a commit named by its hash must be on a branch or a tag.

On the Hub anyone can open a pull request on any repository, and its commits are served by hash like
any other. A manifest that names a commit by hash therefore proves nothing about who published it:
only a branch or a tag (which only the repository's owners move) does. A commit that only a
pull-request ref reaches is accepted only when the manifest names that pull request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modellock.errors import CheckFailed
from modellock.project.manifest import ModelSpec
from modellock.sources.interface import Refs, RepoRef, Source
from modellock.sources.stored import OfflineSource

_COMMIT = re.compile(r"^[0-9a-f]{40}\Z")
_HEX = re.compile(r"^[0-9a-fA-F]{4,40}\Z")


def by_hash(revision: str, commit: str, refs: Refs) -> bool:
    """Did `revision` name `commit` by (a prefix of) its hash? The Hub resolves unique prefixes, so a short
    hash proves no more than a full one; a branch or tag that happens to be spelled in hex is a name."""
    return (
        bool(_HEX.match(revision))
        and commit.startswith(revision.lower())
        and revision not in refs.branches
        and revision not in refs.tags
    )


@dataclass(frozen=True)
class Reach:
    """Where a commit is reachable from, as far as it was looked for."""

    published: str | None
    """The first branch or tag (`branch main`, `tag v1`) whose history has the commit; None if none."""
    pull_requests: tuple[str, ...] = ()
    """`refs/pr/N` refs whose history has it; only looked for when no branch or tag does."""


def reach(source: Source, ref: RepoRef, commit: str, refs: Refs) -> Reach:
    """Look for `commit` on the branches and tags first (a ref pointing at it costs no history read)."""
    named = [*(("branch", n, c) for n, c in sorted(refs.branches.items())),
             *(("tag", n, c) for n, c in sorted(refs.tags.items()))]  # fmt: skip
    for kind, name, target in named:
        if target == commit:
            return Reach(f"{kind} {name}")
    # Walk histories only after every ref's head was compared; the default branch usually has it.
    named.sort(key=lambda item: (item[1] != "main", item[0] != "branch"))
    # A ref's history is read from the commit the listing gave, so a ref moved meanwhile changes nothing.
    seen: set[str] = set()
    for kind, name, target in named:
        if _walk(source, ref, target, commit, seen):
            return Reach(f"{kind} {name}")
    prs = tuple(pr for pr, target in sorted(refs.pull_requests.items()) if _walk(source, ref, target, commit, seen))
    return Reach(None, prs)


def _walk(source: Source, ref: RepoRef, head: str, commit: str, seen: set[str]) -> bool:
    """Is `commit` in the history of `head`? A head inside an earlier fruitless walk is not read again:
    its whole history is inside that walk's (the Hub lists every ancestor, merges included)."""
    if head in seen:
        return False
    read: list[str] = []
    for c in source.history(ref, head):
        if c == commit:
            return True
        read.append(c)
    seen.update(read)
    return False


def requested_commit_problem(requested: str, commit: str) -> str | None:
    """A lock entry that asks for a commit by hash and locks another contradicts itself (offline, no Hub needed)."""
    if _COMMIT.match(requested) and requested != commit:
        return f"requested commit {requested[:7]} is not the locked {commit[:7]}"
    return None


def refuse_unpublished(spec: ModelSpec, ref: RepoRef, commit: str, source: Source) -> None:
    """At `lock`: a revision given by hash must be on a branch or tag (exit 1 otherwise, before any download).

    `lock --offline` cannot ask (a hash is all it can lock then); `lock --check --remote` asks again.
    """
    if not (_HEX.match(spec.revision) and commit.startswith(spec.revision.lower())) or isinstance(
        source, OfflineSource
    ):
        return
    refs = source.refs(ref)
    if not by_hash(spec.revision, commit, refs):
        return
    found = reach(source, ref, commit, refs)
    why = unpublished_reason(spec.repo, commit, found)
    if why is not None:
        raise CheckFailed(f"refusing {spec.name}: {why}", hint=pull_request_hint(found))


def unpublished_reason(repo: str, commit: str, found: Reach) -> str | None:
    """Why a commit named by hash may not be locked (None when a branch or tag has it)."""
    if found.published is not None:
        return None
    if found.pull_requests:
        return (
            f"{commit[:7]} is on no branch or tag of {repo}, only in {', '.join(found.pull_requests)} "
            "(anyone can open a pull request on the Hub)"
        )
    return f"{commit[:7]} is on no branch, tag or pull request of {repo}"


def pull_request_hint(found: Reach) -> str:
    """What to write in the manifest when the pull request really is what is wanted."""
    if found.pull_requests:
        return (
            f'if you mean that pull request, set revision = "{found.pull_requests[0]}" in modellock.toml '
            "(its head is locked then, and `lock --check --remote` proves the lock against that ref)"
        )
    return "check the commit id: a commit named by hash must be on a branch or a tag of the repository"
