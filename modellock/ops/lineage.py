"""Lineage at `lock`: turn what each model declares about its parents into sealed edges, or refuse.

An adapter is only as good as the base it runs on, and the Hub names that base by repository only.
So `lock` maps every declared parent to an entry of the same lock and records the parent's commit
and file-set digest in an edge; a parent the lock does not hold is an "unlocked base". Edges of
models kept from the old lock stay as they were (sticky): when their parent moved, the edge is stale
and says so, until `--with-dependents` (or re-resolving the child) re-validates it against the new
parent. Upgrading a base never silently carries its dependants along.
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace

from modellock.errors import CheckFailed
from modellock.gate.buffer import Window
from modellock.gate.formats import gguf_metadata
from modellock.ops.edgecheck import find_cycle, is_stale, stale_message
from modellock.project.edges import LockedEdge
from modellock.project.lockfile import LockedModel
from modellock.project.manifest import ModelSpec
from modellock.project.parents import (
    ADAPTER_CONFIG,
    Declarations,
    Declared,
    combine,
    from_adapter_config,
    from_card,
    from_gguf,
    gguf_wanted,
)
from modellock.sources import RepoRef, Source
from modellock.store.blobs import Store

_HEX40 = re.compile(r"^[0-9a-f]{40}\Z")
MAX_DEPTH = 8
"""How many generations `--with-bases` follows (adapter → fine-tune → base is three)."""


@dataclass(frozen=True)
class MissingBase:
    """A parent a model declares that the lock does not hold."""

    model: str
    repo: str
    relation: str
    evidence: tuple[str, ...]
    pin: str = ""
    layout: str = "dir"
    """The child's layout and install path: an added base goes where loaders of the child look for it."""
    install_path: str = ""


class UnlockedBase(CheckFailed):
    """`lock` found a declared parent that is not in the lock."""

    def __init__(self, missing: tuple[MissingBase, ...]) -> None:
        named = "; ".join(
            f"`{m.model}` declares {m.relation} base {m.repo}{'@' + m.pin if m.pin else ''} ({', '.join(m.evidence)})"
            for m in missing
        )
        super().__init__(
            f"unlocked base: {named}, and the lock holds no model of that repository",
            hint="lock the base too: `modellock lock --with-bases` (or `modellock add REPO`); "
            'or set `bases = "warn"` for the model in modellock.toml',
        )
        self.missing = missing


class BasePinMismatch(CheckFailed):
    """A model pins its parent at a revision other than the commit the lock holds for that parent."""


@dataclass(frozen=True)
class Linked:
    """The lock's models with their edges, and what `lock` should say about lineage."""

    models: tuple[LockedModel, ...]
    warnings: tuple[str, ...]


def declarations_of(model: LockedModel, spec: ModelSpec, source: Source, store: Store) -> Declarations:
    """What a freshly resolved model declares: its locked `adapter_config.json` (bytes from the store) and its card."""
    if spec.bases == "ignore":
        return Declarations()
    found: list[Declared] = []
    notes: list[str] = []
    config = next((f for f in model.files if f.path == ADAPTER_CONFIG), None)
    if config is not None:
        parents, ignored = from_adapter_config(store.blob_path(config.blake3).read_bytes())
        found += parents
        notes += ignored
    card = source.lineage(RepoRef(model.repo, model.repo_type), model.commit)
    parents, ignored = from_card(card.card, card.base_models)
    found += parents
    notes += [*([card.problem] if card.problem else []), *ignored]
    for f in model.files:
        if f.format == "gguf" and f.size:  # recognised by content; only its header pages are read
            with open(store.blob_path(f.blake3), "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
                parents, ignored = from_gguf(gguf_metadata(Window(m), gguf_wanted), f.path)
            found += parents
            notes += ignored
    own = model.repo.lower()
    return Declarations(combine(d for d in found if d.repo.lower() != own), tuple(f"{model.name}: {n}" for n in notes))


def _parent_for(declared: Declared, models: Mapping[str, LockedModel], child: str) -> LockedModel | None:
    """The lock entry a declaration means: same repository; the pinned commit or ref first, then by name."""
    same = [m for n, m in sorted(models.items()) if n != child and m.repo.lower() == declared.repo.lower()]
    pinned = [m for m in same if declared.pin in (m.commit, m.requested)]
    chosen = pinned or same
    return chosen[0] if chosen else None


def _edge(
    child: LockedModel, d: Declared, parent: LockedModel, resolve: Callable[[LockedModel, str], str]
) -> LockedEdge:
    if d.pin:
        # A commit pin must be the locked commit; a branch or tag is resolved once, here, and must lead there too.
        wanted = d.pin if _HEX40.match(d.pin) else resolve(parent, d.pin)
        if wanted != parent.commit:
            raise BasePinMismatch(
                f"`{child.name}` pins its base {d.repo} at {d.pin} ({wanted[:7]}), "
                f"but the lock holds `{parent.name}` at {parent.commit[:7]}",
                hint=f'set `revision = "{wanted}"` for `{parent.name}` in modellock.toml, '
                "or use an adapter trained against the locked base",
            )
    return LockedEdge(parent.name, parent.repo, d.relation, parent.commit, parent.digest, d.evidence, d.pin)


def link(
    models: Collection[LockedModel],
    specs: Mapping[str, ModelSpec],
    fresh: Mapping[str, Declarations],
    *,
    resolved: Collection[str],
    revalidate: bool,
    with_bases: bool,
    resolve: Callable[[LockedModel, str], str],
) -> Linked:
    """Give every model its edges.

    `fresh`: declarations read in this run (of every model `resolved` in it; with `--with-bases`, of
    kept ones too); a model without them declares what its edges say. A kept model's existing edges
    stay as they are (sticky) unless `revalidate` (`--with-dependents`) re-makes the stale ones.
    """
    by_name = {m.name: m for m in models}
    missing: list[MissingBase] = []
    warnings: list[str] = []
    out: list[LockedModel] = []
    for model in sorted(by_name.values(), key=lambda m: m.name):
        spec = specs.get(model.name)
        declarations = fresh.get(model.name)
        if declarations is not None:
            warnings += declarations.ignored
            declared = declarations.parents
        else:  # kept: its edges are what it declared when it was locked
            declared = tuple(Declared(e.repo, e.relation, e.evidence, e.pin) for e in model.bases)
        kept = {e.repo.lower(): e for e in model.bases} if model.name not in resolved else {}
        edges = []
        for d in declared:
            parent = _parent_for(d, by_name, model.name)
            old = kept.get(d.repo.lower())
            if parent is None:
                mode = spec.bases_mode(d.relation) if spec is not None else "require"
                if mode == "require" or with_bases:
                    layout, where = (model.layout, model.install_path) if spec is not None else ("dir", "")
                    missing.append(MissingBase(model.name, d.repo, d.relation, d.evidence, d.pin, layout, where))
                elif mode == "warn":
                    warnings.append(f'{model.name}: its {d.relation} base {d.repo} is not locked (bases = "warn")')
                continue
            if old is not None:
                stale = is_stale(old, by_name.get(old.model))
                if not stale or not revalidate:  # sticky: a kept edge is not re-made (no network) unless asked
                    if stale:
                        warnings.append(stale_message(model.name, old, by_name.get(old.model)))
                    edges.append(old)
                    continue
            edges.append(_edge(model, d, parent, resolve))
        out.append(replace(model, bases=tuple(edges)))
    if missing:
        raise UnlockedBase(tuple(missing))
    cycle = find_cycle(out)
    if cycle:
        raise CheckFailed(
            f"lineage cycle: {' -> '.join(cycle)}",
            hint='a model cannot be its own ancestor; fix the card\'s base_model, or set `bases = "ignore"` on one',
        )
    return Linked(tuple(out), tuple(warnings))


def unique_name(wanted: str, taken: Collection[str]) -> str:
    name, n = wanted, 2
    while name in taken:
        name, n = f"{wanted}-{n}", n + 1
    return name
