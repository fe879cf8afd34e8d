"""`modellock export --oci-layout DIR`: the locked models, verified in the store, as one OCI image layout.

The same artifacts `push` sends (the manifest is a pure function of the lock), so `skopeo copy
oci:DIR:REF docker://…` and `sync --from-oci-layout DIR` both work from it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from modellock.errors import UsageError
from modellock.oci.layout import LayoutWriter
from modellock.oci.manifest import artifact
from modellock.ops.push import check_store
from modellock.project.lockfile import LockedModel, Lockfile
from modellock.store.blobs import Store


@dataclass(frozen=True)
class LayoutModel:
    name: str
    ref_name: str
    """`org.opencontainers.image.ref.name` in index.json: `org/name:COMMIT`, for `skopeo copy oci:DIR:REF`."""
    digest: str


@dataclass(frozen=True)
class LayoutResult:
    root: str
    models: tuple[LayoutModel, ...]
    blobs_written: int
    bytes_written: int


def ref_name(model: LockedModel) -> str:
    kind = "datasets/" if model.repo_type == "dataset" else ""
    return f"{kind}{model.repo.lower()}:{model.commit}"


def export_layout(lock: Lockfile, store: Store, root: Path, *, models: Collection[str] = ()) -> LayoutResult:
    unknown = sorted(set(models) - set(lock.names()))
    if unknown:
        raise UsageError(f"--model names a model not in the lock: {', '.join(unknown)}")
    chosen = [m for m in lock.models if not models or m.name in models]
    plans = []
    for model in chosen:  # every blob verified before the layout is touched
        art = artifact(model)
        check_store(store, model, art)
        plans.append((model, art))
    writer = LayoutWriter(root)
    done = []
    for model, art in plans:
        for layer in {layer.digest: layer for layer in art.layers}.values():
            writer.add_file(layer.digest, layer.size, store.blob_path(layer.blake3))
        writer.add_artifact(art, ref_name(model))
        done.append(LayoutModel(model.name, ref_name(model), art.digest))
    writer.finish()
    return LayoutResult(str(root), tuple(done), writer.written, writer.written_bytes)
