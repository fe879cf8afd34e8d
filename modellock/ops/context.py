"""What a command acts on: the project's manifest and store, and how it reaches sources and trust roots."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modellock.errors import ConfigError, ModellockError
from modellock.project.lockfile import Lockfile
from modellock.project.lockread import read_sealed_lock
from modellock.project.manifest import Manifest, load_manifest
from modellock.store.blobs import Store, open_store

if TYPE_CHECKING:  # imported where used: `status` and a plain `verify` need neither
    from modellock.ops.signatures import TrustSource
    from modellock.sources import Source


@dataclass(frozen=True)
class Project:
    """A project's manifest and the store its settings name."""

    manifest: Manifest
    store: Store


def open_project(manifest_path: Path) -> Project:
    """Read the manifest and open its store, removing what killed runs left in the store."""
    manifest = load_manifest(manifest_path)
    store = open_store(manifest.settings.store, manifest.path.parent)
    store.tidy()
    return Project(manifest, store)


def manifest_if_any(manifest_path: Path) -> Manifest | None:
    """The manifest, or None where there is none (`cache` and `verify` work without one)."""
    return load_manifest(manifest_path) if manifest_path.exists() else None


def settings_manifest(manifest_path: Path) -> tuple[Manifest | None, str | None]:
    """The manifest for its [settings] only (`sync --frozen`), and a warning if it cannot be read."""
    try:
        return manifest_if_any(manifest_path), None
    except ModellockError as exc:
        return None, f"--frozen: ignoring [settings] of a manifest that cannot be read: {exc.message}"


def store_for(manifest: Manifest | None) -> Store:
    """The store the manifest's settings name (or the environment's, or the user cache)."""
    return open_store(manifest.settings.store, manifest.path.parent) if manifest is not None else open_store()


def read_lock_to_use(lock_path: Path) -> Lockfile:
    """The lock for installing or verifying: it must exist, be canonical and be sealed."""
    lock = read_sealed_lock(lock_path)
    if lock is None:
        raise ConfigError("no lock found", file=str(lock_path), hint="run `modellock lock` first")
    return lock


def trust_source(manifest: Manifest | None, flag: Path | None, *, online: bool) -> TrustSource:
    """The flag, else `[settings] trusted-root` (relative to the manifest), else the production root."""
    from modellock.ops.signatures import TrustSource

    setting = manifest.settings.trusted_root if manifest is not None else None
    explicit = flag or ((manifest.path.parent / Path(setting).expanduser()) if manifest and setting else None)
    return TrustSource(explicit, online=online)


def source_factory(manifest: Manifest, store: Store, *, offline: bool = False) -> Callable[[str], Source]:
    """How `lock` reaches each source: recording the file listings it reads, or only from those (`--offline`)."""
    from modellock.sources import open_source
    from modellock.sources.stored import OfflineSource, RecordingSource

    if offline:  # a local directory needs no network: it is read as it is
        return lambda name: (
            open_source(name, project_dir=manifest.path.parent) if name == "local" else OfflineSource(name, store)
        )
    settings = manifest.settings
    return lambda name: RecordingSource(
        open_source(
            name, endpoint=settings.endpoint, project_dir=manifest.path.parent, s3_endpoint=settings.s3_endpoint
        ),
        store,
    )


REGISTRY_ENV = "MODELLOCK_REGISTRY"


@dataclass(frozen=True)
class RegistrySetting:
    address: str
    from_project: bool
    """Named by the manifest's `[settings]`, which a pull request can change: it gets no credentials
    from the environment (those belong to the registry the user or CI named), only Docker's own,
    which are kept per host."""


def registry_setting(manifest: Manifest | None, flag: str | None) -> RegistrySetting | None:
    """The registry to pull from: the flag, else $MODELLOCK_REGISTRY, else `[settings] registry` (never the lock)."""
    import os

    chosen = flag or os.environ.get(REGISTRY_ENV)
    if chosen:
        return RegistrySetting(chosen, from_project=False)
    setting = manifest.settings.registry if manifest is not None else None
    return RegistrySetting(setting, from_project=True) if setting else None


def pull_sources(
    lock: Lockfile,
    *,
    registry: RegistrySetting | None,
    layout: Path | None,
    endpoint: str | None,
    project_dir: Path | None = None,
    s3_endpoint: str | None = None,
) -> Callable[[str], Source] | None:
    """How `sync` reaches bytes the store lacks: an OCI layout alone, or the registry then the Hub; None: the Hub."""
    if layout is not None:
        from modellock.sources.oci import OciLayoutSource

        from_layout = OciLayoutSource(layout, lock)
        return lambda name: from_layout
    if registry is None:
        return None
    from modellock.oci.client import Registry
    from modellock.oci.reference import parse_registry
    from modellock.sources import open_source
    from modellock.sources.oci import OciRegistrySource

    ref = parse_registry(registry.address)  # a bad address is an error even when the store has everything
    clients: list[Registry] = []

    def factory(name: str) -> Source:
        if not clients:  # credentials are looked up only when a file is missing
            clients.append(Registry(ref, environment_credentials=not registry.from_project))
        fallback = open_source(name, endpoint=endpoint, project_dir=project_dir, s3_endpoint=s3_endpoint)
        return OciRegistrySource(clients[0], lock, fallback)

    return factory


def certificate_roots(manifest: Manifest | None) -> dict[str, bytes]:
    """Root certificates of certificate-mode signatures, read from the paths the manifest names."""
    from modellock.project.smallfile import read_small

    roots: dict[str, bytes] = {}
    for name, spec in manifest.models.items() if manifest is not None else ():
        if spec.signature is not None and spec.signature.certificate_chain:
            path = manifest.path.parent / spec.signature.certificate_chain  # type: ignore[union-attr]
            try:
                roots[name] = read_small(path)
            except OSError as exc:
                raise ConfigError(f"cannot read the certificate chain: {exc.strerror}", file=str(path)) from None
    return roots
