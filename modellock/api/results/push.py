"""`Project.push()`: each locked model's artifact in the registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modellock.ops.push import PushResult as _Push


@dataclass(frozen=True)
class PushedModel:
    """One model as a ModelPack artifact: where it is and what it cost to put it there."""

    name: str
    repository: str
    """`HOST/NAMESPACE/org/name`."""
    tags: tuple[str, ...]
    digest: str
    """The manifest digest: the same from every machine holding this lock."""
    uploaded: int
    uploaded_bytes: int
    mounted: int
    skipped: int
    """Blobs the registry already had."""


@dataclass(frozen=True)
class PushResult:
    registry: str
    models: tuple[PushedModel, ...]
    detail: Any = field(default=None, repr=False, compare=False)


def push_result(result: _Push) -> PushResult:
    models = tuple(
        PushedModel(m.name, m.repository, m.tags, m.digest, m.uploaded, m.uploaded_bytes, m.mounted, m.skipped)
        for m in result.models
    )
    return PushResult(result.registry, models, detail=result)
