"""`modellock push oci://…`: each locked model, verified in the store, as one ModelPack artifact in a registry.

The manifest is a pure function of the lock (`oci.manifest`), so two machines pushing the same lock
produce the same digest, and a second push uploads nothing: blobs the registry has are skipped
(`HEAD`), blobs another repository of the same push holds are mounted.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from modellock.errors import CheckFailed, IntegrityError, UsageError
from modellock.oci.client import Registry
from modellock.oci.manifest import MANIFEST_TYPE, Artifact, Layer, artifact
from modellock.oci.reference import RegistryRef, valid_tag
from modellock.ops.workers import CancelFlag, run_parallel
from modellock.project.lockfile import LockedModel, Lockfile
from modellock.project.origins import registry_path
from modellock.store.blobs import Store

UPLOAD_WORKERS = 4


@dataclass(frozen=True)
class PushedModel:
    """One model's artifact in the registry."""

    name: str
    repository: str
    """`HOST/NAMESPACE/org/name`."""
    tags: tuple[str, ...]
    digest: str
    """The manifest digest (the same from every store holding this lock)."""
    uploaded: int
    uploaded_bytes: int
    mounted: int
    skipped: int
    """Blobs the registry already had."""


@dataclass(frozen=True)
class PushResult:
    registry: str
    models: tuple[PushedModel, ...]

    @property
    def uploaded_bytes(self) -> int:
        return sum(m.uploaded_bytes for m in self.models)


def check_store(store: Store, model: LockedModel, art: Artifact) -> None:
    """Every layer is in the store and still hashes to the lock's digests, before a byte leaves."""
    for layer in art.layers:
        b3, size = layer.blake3, layer.size
        if not (store.intact(b3, size) or (store.has(b3, size) and store.verify_blob(b3))):
            raise CheckFailed(
                f"{model.name}: {layer.path} is not in the store (or no longer matches the lock)",
                hint="run `modellock sync` first; push sends only bytes verified against the lock",
            )
        sha256 = store.sha256_of(layer.blake3, size)
        if sha256 is not None and f"sha256:{sha256}" != layer.digest:
            raise IntegrityError(
                f"{model.name}: {layer.path}: the lock pairs BLAKE3 {layer.blake3[:12]}… with another SHA-256 "
                "than the store's bytes have",
                hint="the lock was edited or forged; nothing was pushed",
                model=model.name,
                path=layer.path,
                expected=layer.digest,
                actual=f"sha256:{sha256}",
            )


class _Pusher:
    def __init__(self, registry: Registry, store: Store) -> None:
        self.registry = registry
        self.store = store
        self.holders: dict[str, str] = {}
        """Digest → a repository this run saw holding it (for cross-repository mounts)."""
        self._lock = threading.Lock()

    def blob(self, name: str, layer: Layer) -> str:
        """`skipped`, `mounted` or `uploaded`."""
        reg = self.registry
        if reg.has_blob(name, layer.digest, layer.size, push=True):
            outcome = "skipped"
        else:
            with self._lock:
                holder = self.holders.get(layer.digest)
            location = reg.mount(name, layer.digest, holder) if holder is not None and holder != name else None
            if holder is not None and holder != name and location is None:
                outcome = "mounted"
            else:
                reg.upload(name, layer.digest, layer.size, self.store.blob_path(layer.blake3), location)
                outcome = "uploaded"
        with self._lock:
            self.holders.setdefault(layer.digest, name)
        return outcome


def push_lock(
    lock: Lockfile,
    store: Store,
    registry: Registry,
    *,
    models: Collection[str] = (),
    tag_ref: bool = False,
    workers: int = UPLOAD_WORKERS,
) -> PushResult:
    """Push every selected locked model; tags by commit (and by the requested ref with `tag_ref`)."""
    unknown = sorted(set(models) - set(lock.names()))
    if unknown:
        raise UsageError(f"--model names a model not in the lock: {', '.join(unknown)}")
    chosen = [m for m in lock.models if not models or m.name in models]
    ref: RegistryRef = registry.ref
    plans = []
    for model in chosen:  # everything is checked before the first byte is sent
        art = artifact(model)
        check_store(store, model, art)
        tags = [model.commit]
        if tag_ref and model.requested != model.commit:
            if not valid_tag(model.requested):
                raise UsageError(f"{model.name}: the ref {model.requested!r} is not a valid OCI tag")
            tags.append(model.requested)
        name = ref.repository(*registry_path(model.source, model.repo, model.repo_type, model.name))
        plans.append((model, art, name, tags))
    # Entries locking one repository at one commit with other file selections are other artifacts:
    # each is tagged `COMMIT-NAME` instead of fighting over the `COMMIT` tag (pulls go by digest anyway).
    digests: dict[tuple[str, str], set[str]] = {}
    for model, art, name, _ in plans:
        digests.setdefault((name, model.commit), set()).add(art.digest)
    for model, _, name, tags in plans:
        if len(digests[(name, model.commit)]) > 1:
            tags[0] = f"{model.commit}-{model.name}"
            if not valid_tag(tags[0]):
                raise UsageError(f"{model.name}: cannot make a tag of {tags[0]!r}", hint="rename the model")
    registry.ping()
    pusher = _Pusher(registry, store)
    pushed = []
    for model, art, name, tag_list in plans:
        model_tags = tuple(tag_list)
        distinct = list({layer.digest: layer for layer in art.layers}.values())
        outcomes = run_parallel(lambda layer, n=name: pusher.blob(n, layer), distinct, workers, CancelFlag())  # type: ignore[misc]
        if not registry.has_blob(name, art.config_digest, len(art.config), push=True):
            registry.upload_bytes(name, art.config_digest, art.config)
        for tag in model_tags:
            registry.put_manifest(name, tag, art.manifest, MANIFEST_TYPE)
        uploaded = [layer for layer, o in zip(distinct, outcomes, strict=True) if o == "uploaded"]
        pushed.append(
            PushedModel(
                model.name,
                f"{ref.host}/{name}",
                model_tags,
                art.digest,
                uploaded=len(uploaded),
                uploaded_bytes=sum(layer.size for layer in uploaded),
                mounted=outcomes.count("mounted"),
                skipped=outcomes.count("skipped"),
            )
        )
    return PushResult(str(ref), tuple(pushed))


def push_project(project_dir: Path, address: str, *, models: Collection[str] = (), tag_ref: bool = False) -> PushResult:
    """`modellock push ADDRESS`: the project's sealed lock, from the store its manifest names, to the registry."""
    from modellock.oci.client import Registry
    from modellock.oci.reference import parse_registry
    from modellock.ops.context import manifest_if_any, read_lock_to_use, store_for
    from modellock.project.discover import LOCK_NAME, MANIFEST_NAME

    ref = parse_registry(address)
    lock = read_lock_to_use(project_dir / LOCK_NAME)
    store = store_for(manifest_if_any(project_dir / MANIFEST_NAME))
    client = Registry(ref)
    try:
        with store.held():
            return push_lock(lock, store, client, models=models, tag_ref=tag_ref)
    finally:
        client.close()
