"""What a model card states about a locked model (licence, task, datasets), as the lock records it.

Read from the card's YAML metadata at `lock` (the same answer lineage reads, no extra listing), and
kept only where the value is from a closed alphabet: a card is hostile input, and these values go
into BOMs. A missing or odd value is left out, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modellock.project.paths import valid_repo_id

_LICENSE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]{0,63}\Z")
_TASK = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}\Z")
MAX_DATASETS = 32
_KEYS = frozenset({"license", "task", "datasets"})


@dataclass(frozen=True)
class LockedCard:
    """The card's claims at the locked commit: the author's words, recorded, not checked."""

    license: str = ""
    """The card's `license` (the Hub's identifiers: `apache-2.0`, `mit`, `other`, …)."""
    task: str = ""
    """The card's `pipeline_tag` (`text-generation`, …)."""
    datasets: tuple[str, ...] = ()
    """The card's `datasets` (repository ids), sorted."""

    def canonical(self) -> str:
        parts = [f'{k} = "{v}"' for k, v in (("license", self.license), ("task", self.task)) if v]
        if self.datasets:
            parts.append(f"datasets = [{', '.join(f'{chr(34)}{d}{chr(34)}' for d in self.datasets)}]")
        return f"card = {{ {', '.join(parts)} }}\n"


def render_card(card: LockedCard | None) -> str:
    """The entry's `card` line, or nothing. Every value is from a closed alphabet: no escaping needed."""
    return "" if card is None else card.canonical()


def from_card_data(data: Any) -> LockedCard | None:
    """The facts a card's metadata states in a form the lock can hold; None if it states none."""
    if not isinstance(data, Mapping):
        return None
    license_ = data.get("license")
    task = data.get("pipeline_tag")
    raw = data.get("datasets")
    names = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    datasets = sorted({d for d in names if isinstance(d, str) and valid_repo_id(d) and '"' not in d})
    card = LockedCard(
        license_ if isinstance(license_, str) and _LICENSE.match(license_) else "",
        task if isinstance(task, str) and _TASK.match(task) else "",
        tuple(datasets[:MAX_DATASETS]),
    )
    return card if card != LockedCard() else None


def card_problem(raw: Any) -> str | None:
    """Why a lock's `card` is not one modellock writes, or None. The lock is hostile input."""
    if not isinstance(raw, dict) or not raw or not raw.keys() <= _KEYS:
        return "`card` may hold license, task and datasets, and at least one of them"
    license_, task, datasets = raw.get("license", "x"), raw.get("task", "x"), raw.get("datasets", ["a/b"])
    if not (isinstance(license_, str) and _LICENSE.match(license_)):
        return f"card `license` {license_!r} is not a licence identifier"
    if not (isinstance(task, str) and _TASK.match(task)):
        return f"card `task` {task!r} is not a task name"
    if (
        not isinstance(datasets, list)
        or not datasets
        or len(datasets) > MAX_DATASETS
        or not all(isinstance(d, str) and valid_repo_id(d) and '"' not in d for d in datasets)
        or datasets != sorted(set(datasets))
    ):
        return "card `datasets` must be a sorted, non-empty list of repository ids without repeats"
    return None


def card_of(raw: dict[str, Any]) -> LockedCard:
    """A card from a checked `card` table (see `card_problem`)."""
    return LockedCard(raw.get("license", ""), raw.get("task", ""), tuple(raw.get("datasets", ())))
