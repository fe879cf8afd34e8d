"""Lineage edges: a locked model's parents (the base of an adapter, a fine-tune, a quant, a merge).

An edge says "this model was locked against parent P at commit C with file set F". It lives in the
child's lock entry, so it is sealed with it; `lock --check` proves offline that the parent entry still
has that commit and file set. The Hub records parents by repository id only, never by commit: the
edge is what pins one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from modellock.project.paths import ref_problem, valid_model_name, valid_repo_id

RELATIONS = ("adapter", "finetune", "quantized", "merge")
"""The Hub's `base_model_relation` vocabulary."""
EVIDENCE = ("adapter_config", "card", "gguf")
"""What declared the parent: `adapter_config.json`, the card's `base_model` (or `expand=baseModels`), GGUF metadata."""
BASES_MODES = ("require", "warn", "ignore")

_HEX40 = re.compile(r"^[0-9a-f]{40}\Z")
_TAGGED = re.compile(r"^blake3:[0-9a-f]{64}\Z")
_KEYS = frozenset({"model", "repo", "relation", "commit", "files", "evidence", "pin"})
_REQUIRED = _KEYS - {"pin"}


@dataclass(frozen=True)
class LockedEdge:
    """One parent of a locked model, as it was when the edge was made."""

    model: str
    """The parent's name in this lock."""
    repo: str
    """The repository the child declares (the parent entry's `repo`)."""
    relation: str
    commit: str
    """The parent's locked commit when the edge was made."""
    files: str
    """The parent's content digest (its `digest`) when the edge was made."""
    evidence: tuple[str, ...]
    pin: str = ""
    """The revision the child itself declares for the parent (PEFT `revision`), when it declares one."""

    def canonical(self) -> str:
        evidence = ", ".join(f'"{e}"' for e in self.evidence)
        pin = f', pin = "{self.pin}"' if self.pin else ""
        return (
            f'{{ model = "{self.model}", repo = "{self.repo}", relation = "{self.relation}", '
            f'commit = "{self.commit}", files = "{self.files}", evidence = [{evidence}]{pin} }}'
        )


def render_edges(edges: tuple[LockedEdge, ...]) -> str:
    """The entry's `bases` line, or nothing: one line, so the fast reader hands it to tomllib whole.

    Every value is from a closed alphabet (names, repo ids, hex, vocabulary), so no escaping is needed.
    """
    if not edges:
        return ""
    return f"bases = [{', '.join(e.canonical() for e in edges)}]\n"


def edge_problem(raw: Any) -> str | None:
    """Why a `bases` item from a lock is not a well-formed edge, or None. The lock is hostile input."""
    if not isinstance(raw, dict) or not (_REQUIRED <= raw.keys() <= _KEYS):
        return "an edge needs model, repo, relation, commit, files and evidence (and may have pin)"
    strings = {k: v for k, v in raw.items() if k != "evidence"}
    if not all(isinstance(v, str) for v in strings.values()):
        return "edge fields must be strings"
    if not valid_model_name(raw["model"]) or not valid_repo_id(raw["repo"]):
        return f"edge names an invalid model {raw['model']!r} or repository {raw['repo']!r}"
    if raw["relation"] not in RELATIONS:
        return f"unknown relation {raw['relation']!r} (one of {', '.join(RELATIONS)})"
    if not _HEX40.match(raw["commit"]) or not _TAGGED.match(raw["files"]):
        return "edge `commit` must be 40 hex and `files` blake3:<64 hex>"
    evidence = raw["evidence"]
    if not isinstance(evidence, list) or not evidence or not all(e in EVIDENCE for e in evidence):
        return f"edge `evidence` must be a non-empty list of {', '.join(EVIDENCE)}"
    if len(set(evidence)) != len(evidence) or list(evidence) != sorted(evidence):
        return "edge `evidence` must be sorted and without repeats"
    if "pin" in raw and (not raw["pin"] or ref_problem(raw["pin"]) or '"' in raw["pin"] or "\\" in raw["pin"]):
        return f"edge `pin` {raw['pin']!r} is not a revision"
    return None


def edge_of(raw: dict[str, Any]) -> LockedEdge:
    """An edge from a checked `bases` item (see `edge_problem`)."""
    return LockedEdge(
        raw["model"], raw["repo"], raw["relation"], raw["commit"], raw["files"], tuple(raw["evidence"]),
        raw.get("pin", ""),
    )  # fmt: skip
