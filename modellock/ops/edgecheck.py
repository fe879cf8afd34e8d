"""Lineage edges checked against the lock they are in: stale, dangling, cyclic; and install order.

Pure functions of the lock, no network and no model bytes: `lock --check`, `sync` and `tree` use them.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from modellock.project.edges import LockedEdge
from modellock.project.lockfile import LockedModel

_HEX40 = re.compile(r"^[0-9a-f]{40}\Z")


def is_stale(edge: LockedEdge, parent: LockedModel | None) -> bool:
    return parent is None or (parent.commit, parent.digest) != (edge.commit, edge.files)


def stale_message(child: str, edge: LockedEdge, parent: LockedModel | None) -> str:
    """`lock --check` and `sync` say this when an edge no longer matches its parent's entry."""
    if parent is None:
        return f"stale edge: `{child}` has base `{edge.model}` ({edge.repo}), which is no longer in the lock"
    what = "commit" if parent.commit != edge.commit else "file set"
    return (
        f"stale edge: `{child}` was validated against `{edge.model}`@{edge.commit[:7]} "
        f"(files {edge.files[7:19]}…), but `{edge.model}` is now locked at {parent.commit[:7]} "
        f"(files {parent.digest[7:19]}…; its {what} changed); re-validate with "
        f"`modellock lock --with-dependents` (or `modellock lock --upgrade-model {child}`)"
    )


def edge_problems(models: Collection[LockedModel]) -> list[tuple[str, str]]:
    """(model, message) for every edge that does not hold in this lock: stale, dangling, or a cycle."""
    by_name = {m.name: m for m in models}
    found = []
    for model in sorted(by_name.values(), key=lambda m: m.name):
        for edge in model.bases:
            parent = by_name.get(edge.model)
            if is_stale(edge, parent) or (parent is not None and parent.repo != edge.repo):
                found.append((model.name, stale_message(model.name, edge, parent)))
            elif _HEX40.match(edge.pin) and edge.pin != edge.commit:
                pinned = f"its edge to `{edge.model}` pins {edge.pin[:7]} but records {edge.commit[:7]}"
                found.append((model.name, pinned))
    cycle = find_cycle(list(by_name.values()))
    if cycle:
        found.append((cycle[0], f"lineage cycle: {' -> '.join(cycle)}"))
    return found


def find_cycle(models: Collection[LockedModel]) -> list[str]:
    """A cycle of edges (child -> parent -> … -> child) as names, or [] when the graph is a forest of DAGs."""
    graph = {m.name: [e.model for e in m.bases] for m in models}
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        path.append(name)
        for parent in graph.get(name, []):
            if state.get(parent) == 1:
                return [*path[path.index(parent) :], parent]
            if parent in graph and parent not in state:
                found = visit(parent)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return []

    for name in sorted(graph):
        if name not in state:
            found = visit(name)
            if found:
                return found
    return []


def parents_first(models: Collection[LockedModel]) -> list[LockedModel]:
    """Models ordered so every parent comes before its dependants (then by name); `sync` installs in this order."""
    by_name = {m.name: m for m in models}
    done: dict[str, None] = {}

    def place(name: str, depth: int) -> None:
        if name in done or name not in by_name or depth > len(by_name):  # a cycle cannot recurse forever
            return
        for edge in by_name[name].bases:
            place(edge.model, depth + 1)
        done[name] = None

    for name in sorted(by_name):
        place(name, 0)
    return [by_name[n] for n in done]


def with_ancestors(models: Collection[LockedModel], names: Collection[str]) -> set[str]:
    """`names` and every model they build on, transitively (an adapter is installed with its base)."""
    by_name = {m.name: m for m in models}
    found: set[str] = set()
    todo = [n for n in names if n in by_name]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo += [e.model for e in by_name[name].bases if e.model in by_name]
    return found


def hf_cache_bases(models: Collection[LockedModel]) -> set[str]:
    """hf-cache models that are some model's base and the only entry of their repository in their cache:
    they also get `refs/main` (two entries of one repository in one cache would fight over it)."""
    parents = {e.model for m in models for e in m.bases}
    found = set()
    for m in models:
        shared = [o for o in models if (o.repo, o.install_path, o.layout) == (m.repo, m.install_path, m.layout)]
        if m.name in parents and m.layout == "hf-cache" and len(shared) == 1:
            found.add(m.name)
    return found
