"""Sources without branches or commits (a local directory, an S3 prefix): the lock pins each file.

Their "commit" is a name for a listing (`listing_name`), and `lock --check --remote` asks them to
prove a locked model file by file (`prove`) instead of following refs to a commit.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import blake3

from modellock.project.lockfile import LockedModel
from modellock.project.origins import UNVERSIONED
from modellock.sources.interface import Refs, RepoRef, Source

Selects = Callable[[list[str]], list[str]]


def listing_name(records: Iterable[str]) -> str:
    """A 40-hex name for a listing (sorted records), where the lock's `commit` goes."""
    return blake3.blake3("".join(f"{r}\n" for r in sorted(records)).encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Proof:
    """What a source found when asked whether a locked model is still what it serves."""

    problems: list[str]
    bytes_read: int


class PinnedSource(Source):
    """A source whose files carry their own pins: no refs, no history, a proof per file."""

    def refs(self, ref: RepoRef) -> Refs:
        """One "branch", `latest`: the name of what the directory or prefix lists now (`outdated` compares it)."""
        return Refs({UNVERSIONED: self.resolve(ref, UNVERSIONED)}, {}, {})

    def history(self, ref: RepoRef, revision: str) -> Iterator[str]:
        yield self.resolve(ref, revision)  # a listing has no past: only what it is now

    @abstractmethod
    def prove(self, model: LockedModel, selects: Selects | None) -> Proof:
        """Is `model` still served as locked? `selects`: the manifest's include/exclude (None: no manifest)."""


def selection_problems(model: LockedModel, listed: list[str], selects: Selects | None) -> list[str]:
    """The files the manifest selects from the listing now against the lock's."""
    if selects is None:
        return []
    now, locked = set(selects(sorted(listed))), {f.path for f in model.files}
    added = [f"the manifest selects {p} in {model.repo}, but the lock does not list it" for p in sorted(now - locked)]
    gone = [f"the lock lists {p}, which is not in {model.repo} or not selected any more" for p in sorted(locked - now)]
    return added + gone
