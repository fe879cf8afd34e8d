"""What a model declares about its parents, read from its own metadata. Claims, never facts.

Sources, strongest first: PEFT's `adapter_config.json` (`base_model_name_or_path`, `revision`), the
model card's `base_model` / `base_model_relation` and the Hub's `expand=baseModels`, and GGUF's
`general.base_model.N.repo_url`. A parent that
is not a Hub repository id (a local path such as `/home/me/llama`, which PEFT writes when the base
was loaded from disk) is reported, never followed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from modellock import jsonread
from modellock.project.edges import RELATIONS
from modellock.project.paths import ref_problem, valid_repo_id

ADAPTER_CONFIG = "adapter_config.json"
MAX_CONFIG_BYTES = 1 << 20
"""An adapter_config.json is a few hundred bytes; a larger one is not read (hostile input)."""


@dataclass(frozen=True)
class Declared:
    """One parent as the model declares it."""

    repo: str
    relation: str
    evidence: tuple[str, ...]
    """Sorted; from `edges.EVIDENCE`."""
    pin: str = ""
    """A revision the model declares for the parent (PEFT `revision`); empty when it declares none."""


@dataclass(frozen=True)
class Declarations:
    """Everything a model says about its parents."""

    parents: tuple[Declared, ...] = ()
    ignored: tuple[str, ...] = ()
    """Human-readable notes on declarations that were not followed (local paths, bad values)."""


def _hub_id(value: Any) -> str | None:
    """A Hub repository id from a declared value (`org/name` or a huggingface.co URL), else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    for prefix in ("https://huggingface.co/", "http://huggingface.co/", "hf://"):
        if text.startswith(prefix):
            text = text[len(prefix) :].strip("/")
    return text if "/" in text and valid_repo_id(text) else None


def from_adapter_config(data: bytes) -> tuple[list[Declared], list[str]]:
    """The base a PEFT adapter names: (parents, notes on what was not followed)."""
    if len(data) > MAX_CONFIG_BYTES:
        return [], [f"{ADAPTER_CONFIG} is larger than {MAX_CONFIG_BYTES} bytes; not read"]
    try:
        config = jsonread.loads(data, ADAPTER_CONFIG)
    except jsonread.MalformedJSON as exc:
        why = f"nested deeper than {jsonread.MAX_DEPTH} levels" if exc.too_deep else "not JSON"
        return [], [f"{ADAPTER_CONFIG} is {why}; not read"]
    if not isinstance(config, dict):
        return [], []
    name = config.get("base_model_name_or_path")
    if name is None:
        return [], []
    repo = _hub_id(name)
    if repo is None:
        return [], [f"{ADAPTER_CONFIG} names base {str(name)[:200]!r}, which is not a Hub id (a local path?)"]
    revision = config.get("revision")
    pin = ""
    if isinstance(revision, str) and revision:
        if ref_problem(revision) or '"' in revision or "\\" in revision:
            return [], [f"{ADAPTER_CONFIG} pins base revision {revision[:100]!r}, which is not a revision"]
        pin = revision
    return [Declared(repo, "adapter", ("adapter_config",), pin)], []


def from_card(card: Mapping[str, Any] | None, base_models: Any) -> tuple[list[Declared], list[str]]:
    """Parents the card's `base_model` (a string or a list) and the Hub's `baseModels` declare."""
    notes: list[str] = []
    names: list[str] = []
    relation = None
    raw = card.get("base_model") if card else None
    for value in raw if isinstance(raw, list) else [raw] if raw is not None else []:
        repo = _hub_id(value)
        if repo is None:
            notes.append(f"the card's base_model {str(value)[:200]!r} is not a Hub id")
        elif repo not in names:
            names.append(repo)
    declared = card.get("base_model_relation") if card else None
    if declared in RELATIONS:
        relation = declared
    # The Hub's own inference: {"relation": "...", "models": [{"id": "org/name"}, ...]}; parsed defensively.
    if isinstance(base_models, Mapping):
        if relation is None and base_models.get("relation") in RELATIONS:
            relation = base_models["relation"]
        models = base_models.get("models")
        for item in models if isinstance(models, list) else []:
            repo = _hub_id(item.get("id")) if isinstance(item, Mapping) else None
            if repo is not None and repo not in names:
                names.append(repo)
    if relation is None:
        relation = "merge" if len(names) > 1 else "finetune"
    return [Declared(name, relation, ("card",)) for name in names], notes


def gguf_wanted(key: str) -> bool:
    """The GGUF metadata keys that declare a parent."""
    return key == "general.type" or (key.startswith("general.base_model.") and key.endswith(".repo_url"))


def from_gguf(meta: Mapping[str, Any], file: str) -> tuple[list[Declared], list[str]]:
    """Parents a GGUF file's `general.base_model.N.repo_url` names: an adapter's base (`general.type =
    adapter`), else what was quantized. The converter fills it from the card; it never carries a commit."""
    relation = "adapter" if meta.get("general.type") == "adapter" else "quantized"
    found: list[Declared] = []
    notes: list[str] = []
    for key in sorted(k for k in meta if k != "general.type"):
        repo = _hub_id(meta[key])
        if repo is None:
            notes.append(f"{file}: {key} {str(meta[key])[:200]!r} is not a Hub repository")
        else:
            found.append(Declared(repo, relation, ("gguf",)))
    return found, notes


def combine(found: Iterable[Declared]) -> tuple[Declared, ...]:
    """One declaration per parent repository: the strongest relation and pin, every piece of evidence."""
    merged: dict[str, Declared] = {}
    for d in found:
        key = d.repo.lower()  # Hub ids are case-insensitive
        old = merged.get(key)
        if old is None:
            merged[key] = d
            continue
        # The first seen is the stronger source (adapter_config before the card), so it keeps relation and pin.
        merged[key] = Declared(old.repo, old.relation, tuple(sorted({*old.evidence, *d.evidence})), old.pin or d.pin)
    return tuple(sorted(merged.values(), key=lambda d: d.repo.lower()))
