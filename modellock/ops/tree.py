"""`modellock tree` and `modellock why`: the lineage graph of a lock, as a tree (uv's `tree` look).

Read from the lock alone. By default each root is a model no other model builds on (an adapter, a
quant, an application's model) and below it are its bases; `invert` turns it around, bases at the
top and below them what builds on them. `why NAME` is the inverted tree of one model.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from modellock.errors import UsageError
from modellock.ops.edgecheck import is_stale
from modellock.project.lockfile import LockedModel, Lockfile


@dataclass(frozen=True)
class TreeNode:
    """A model at one place in the tree."""

    name: str
    repo: str
    commit: str
    relation: str
    """How this node and the one above it are related (`adapter`, …); empty at a root."""
    stale: bool = False
    """The edge to the node above no longer matches the parent's locked commit or file set."""
    repeated: bool = False
    """Shown in full elsewhere already (uv's `(*)`): its subtree is not repeated."""
    children: tuple[TreeNode, ...] = ()


@dataclass(frozen=True)
class TreeResult:
    """The trees to show, and how they were built."""

    roots: tuple[TreeNode, ...]
    invert: bool
    depth: int | None


def _links(lock: Lockfile, invert: bool) -> dict[str, list[tuple[str, str, bool]]]:
    """For each model, the (other model, relation, stale) pairs one level below it."""
    by_name = {m.name: m for m in lock.models}
    below: dict[str, list[tuple[str, str, bool]]] = {m.name: [] for m in lock.models}
    for child in lock.models:
        for edge in child.bases:
            if edge.model not in by_name:
                continue  # dangling: `lock --check` reports it
            stale = is_stale(edge, by_name[edge.model])
            if invert:
                below[edge.model].append((child.name, edge.relation, stale))
            else:
                below[child.name].append((edge.model, edge.relation, stale))
    return below


def model_tree(
    lock: Lockfile, *, invert: bool = False, depth: int | None = None, roots: Collection[str] = ()
) -> TreeResult:
    """The lineage forest of `lock`; `roots` picks where to start (default: every model nothing sits above)."""
    if depth is not None and depth < 0:
        raise UsageError("--depth must be 0 or more")
    unknown = sorted(set(roots) - set(lock.names()))
    if unknown:
        raise UsageError(f"not in the lock: {', '.join(unknown)}", hint="`modellock tree` lists the locked models")
    by_name: dict[str, LockedModel] = {m.name: m for m in lock.models}
    below = _links(lock, invert)
    above = {name for pairs in below.values() for name, _, _ in pairs}
    starts = sorted(roots) if roots else [n for n in sorted(by_name) if n not in above]
    if not starts and by_name:  # everything sits above something: a cycle; show it from the first name
        starts = [sorted(by_name)[0]]
    shown: set[str] = set()

    def node(name: str, relation: str, stale: bool, level: int, path: tuple[str, ...]) -> TreeNode:
        model = by_name[name]
        if name in path or (name in shown and below[name]):
            return TreeNode(name, model.repo, model.commit, relation, stale, repeated=True)
        shown.add(name)
        children: tuple[TreeNode, ...] = ()
        if depth is None or level < depth:
            children = tuple(node(other, rel, st, level + 1, (*path, name)) for other, rel, st in sorted(below[name]))
        return TreeNode(name, model.repo, model.commit, relation, stale, children=children)

    return TreeResult(tuple(node(name, "", False, 0, ()) for name in starts), invert, depth)


def why(lock: Lockfile, name: str, depth: int | None = None) -> TreeResult:
    """Which models need `name`: its dependants, and theirs."""
    return model_tree(lock, invert=True, depth=depth, roots=(name,))
