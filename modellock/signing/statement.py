"""The in-toto statement modellock signs: OMS v1.0 predicate, resources sorted by name, root digest subject."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from modellock.signing.oms import PREDICATE_TYPE, STATEMENT_TYPE


@dataclass(frozen=True)
class Signed:
    """One resource descriptor: a file (`files`) or a byte range of one (`shards`, `path:start:end`)."""

    name: str
    algorithm: str
    digest: str


@dataclass(frozen=True)
class Serialization:
    """How the model was enumerated and hashed (OMS §5.2.2)."""

    method: str
    """`files` or `shards`."""
    hash_type: str
    shard_size: int | None
    ignore_paths: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"method": self.method, "hash_type": self.hash_type, "allow_symlinks": False}
        if self.method == "shards":
            out["shard_size"] = self.shard_size
        out["ignore_paths"] = sorted(set(self.ignore_paths))
        return out


def shard_resources(name: str, ranges: Iterable[tuple[int, int, str]], serialization: Serialization) -> list[Signed]:
    """A file's resources: one for the whole file, or `name:start:end` per shard (empty files have none)."""
    if serialization.method == "files":
        return [Signed(name, serialization.hash_type, digest) for _, _, digest in ranges]
    return [Signed(f"{name}:{start}:{end}", serialization.hash_type, digest) for start, end, digest in ranges]


def root_digest(resources: Iterable[Signed]) -> str:
    """SHA-256 over the raw bytes of every digest, in resource order (§6.5.1): the model's identity across tools."""
    h = hashlib.sha256()
    for resource in resources:
        h.update(bytes.fromhex(resource.digest))
    return h.hexdigest()


def build_statement(model_name: str, resources: Iterable[Signed], serialization: Serialization) -> tuple[bytes, str]:
    """The statement's bytes (the DSSE payload) and its root digest.

    Resources are sorted by name in code-point order (Python's `str` order is exactly that, §5.2.1).
    """
    ordered = sorted(resources, key=lambda r: r.name)
    if not ordered:
        raise ValueError("a statement must sign at least one resource")
    root = root_digest(ordered)
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model_name or "model", "digest": {"sha256": root}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "resources": [{"name": r.name, "algorithm": r.algorithm, "digest": r.digest} for r in ordered],
            "serialization": serialization.as_json(),
        },
    }
    return json.dumps(statement, indent=2, ensure_ascii=False).encode(), root
