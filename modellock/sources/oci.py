"""Locked models from an OCI registry or an OCI image layout, by the digests the lock computes.

Only bytes are served here: resolving and listing stay with the model's own source (the Hub). Each
model's manifest is looked up by the digest computed from the lock (`oci.manifest.artifact`), and
each file by the lock's SHA-256, so neither a registry nor a layout can substitute anything; the
bytes are judged, as for every source, by `ops.fetch.check_bytes`. Registry bytes come through the
download engine (`HttpSource.locate`), as the Hub's do.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import httpx2

from modellock.download import Location, Target
from modellock.errors import CheckFailed, IntegrityError, NetworkError
from modellock.oci.client import AuthError, NotInRegistry, Registry, RegistryError
from modellock.oci.layout import open_regular, read_regular
from modellock.oci.manifest import artifact
from modellock.project.lockfile import LockedModel, Lockfile
from modellock.project.origins import registry_path
from modellock.sources.interface import HttpSource, Refs, RemoteFile, RepoRef, Source

CHUNK = 8 * 1024 * 1024
MAX_MANIFEST = 4 * 1024 * 1024


class _Locked:
    """The models of one lock, and whether this source holds each one's artifact (asked once per model)."""

    def __init__(self, lock: Lockfile) -> None:
        # Keyed by file as well: two entries may lock one repository at one commit with other file
        # selections, which are other artifacts.
        self._models: dict[tuple[str, str, str, str, str], LockedModel] = {}
        self._digests: dict[str, str] = {}
        """Model name → its manifest digest, computed once (a model may have thousands of files)."""
        for m in lock.models:
            art = artifact(m)
            self._digests[m.name] = art.digest
            for layer in art.layers:
                self._models.setdefault((m.repo, m.repo_type, m.commit, layer.path, layer.digest), m)
        self._checked: dict[str, bool] = {}
        self._guard = threading.Lock()

    def model(self, ref: RepoRef, commit: str, file: RemoteFile) -> LockedModel | None:
        """The locked model a download belongs to; None if it is not in the lock (or has no SHA-256)."""
        if file.lfs_sha256 is None:
            return None
        return self._models.get((ref.repo, ref.repo_type, commit, file.path, f"sha256:{file.lfs_sha256}"))

    def holds(self, model: LockedModel, check: Callable[[LockedModel, str], bool]) -> bool:
        digest = self._digests[model.name]
        with self._guard:
            known = self._checked.get(digest)
        if known is None:
            known = check(model, digest)
            with self._guard:
                self._checked[digest] = known
        return known


class OciRegistrySource(HttpSource):
    """A registry the models were pushed to (`modellock push`); models it lacks come from `fallback`."""

    def __init__(self, registry: Registry, lock: Lockfile, fallback: Source) -> None:
        self.name = fallback.name
        self.registry = registry
        self._fallback = fallback
        self._locked = _Locked(lock)
        self._located: set[tuple[str, str]] = set()

    @property
    def location(self) -> str:
        return str(self.registry.ref)

    def resolve(self, ref: RepoRef, revision: str) -> str:
        return self._fallback.resolve(ref, revision)

    def list_files(self, ref: RepoRef, commit: str, *, scans: bool = False) -> list[RemoteFile]:
        return self._fallback.list_files(ref, commit, scans=scans)

    def refs(self, ref: RepoRef) -> Refs:
        return self._fallback.refs(ref)

    def history(self, ref: RepoRef, revision: str) -> Iterator[str]:
        return self._fallback.history(ref, revision)

    def _name(self, model: LockedModel) -> str:
        return self.registry.ref.repository(*registry_path(model.source, model.repo, model.repo_type, model.name))

    def _manifest_present(self, model: LockedModel, digest: str) -> bool:
        try:
            self.registry.get_manifest(self._name(model), digest)  # hashed here: it must be the lock's manifest
        except NotInRegistry:
            return False
        return True

    def fetch(
        self, ref: RepoRef, commit: str, file: RemoteFile, target: Target, *, connections: int | None = None
    ) -> None:
        model = self._locked.model(ref, commit, file)
        if model is None or not self._locked.holds(model, self._manifest_present):
            self._fallback.fetch(ref, commit, file, target, connections=connections)
            return
        # The manifest is there: a blob missing now is the registry's fault (pruned, mid-push), said as such.
        super().fetch(ref, commit, file, target, connections=connections)

    def locate(self, ref: RepoRef, commit: str, file: RemoteFile) -> Location:
        model = self._locked.model(ref, commit, file)
        assert model is not None and file.lfs_sha256 is not None  # fetch sent only those here
        name, digest = self._name(model), f"sha256:{file.lfs_sha256}"
        if (name, digest) in self._located:
            self.registry.forget_token(name)  # asked again: the engine saw a 401, the token expired
        self._located.add((name, digest))
        headers = {"Accept-Encoding": "identity", **self.registry.auth_headers(name)}
        host = self.registry.ref.host

        def refused(response: httpx2.Response) -> Exception:
            if response.status_code == 404:
                return NotInRegistry(
                    f"{self.registry.ref} holds the manifest of {model.name} but not the blob of {file.path} "
                    f"({digest[:19]}…)",
                    hint="push the model again (`modellock push`); the registry may have been pruned mid-push",
                )
            if response.status_code in (401, 403):
                return AuthError(
                    f"{host} refused access to {name} (HTTP {response.status_code})",
                    hint="check the registry credentials (`docker login`); they were not printed",
                )
            return RegistryError(f"{host} answered HTTP {response.status_code} for {file.path} ({digest[:19]}…)")

        return Location(self.registry.blob_url(name, digest), headers, self.registry.client, refused)


class OciLayoutSource(Source):
    """An OCI image layout on a disk (`export --oci-layout`): the air-gapped source. Nothing else is asked."""

    name = "oci-layout"

    def __init__(self, root: Path, lock: Lockfile) -> None:
        self.root = root
        self._locked = _Locked(lock)
        try:
            marker = read_regular(root / "oci-layout", 4096)
        except OSError:
            raise CheckFailed(
                f"{root} is not an OCI image layout (no readable `oci-layout` file)",
                hint="point --from-oci-layout at a directory written by `modellock export --oci-layout`",
            ) from None
        if b'"imageLayoutVersion"' not in marker:
            raise CheckFailed(f"{root}/oci-layout is not an OCI layout marker")

    @property
    def location(self) -> str:
        return str(self.root)

    def _offline(self) -> NetworkError:
        return NetworkError("an OCI layout holds bytes only; resolving needs the model's source")

    def resolve(self, ref: RepoRef, revision: str) -> str:
        raise self._offline()

    def list_files(self, ref: RepoRef, commit: str, *, scans: bool = False) -> list[RemoteFile]:
        raise self._offline()

    def refs(self, ref: RepoRef) -> Refs:
        raise self._offline()

    def history(self, ref: RepoRef, revision: str) -> Iterator[str]:
        raise self._offline()

    def _blob(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / digest.split(":", 1)[1]

    def _open(self, digest: str) -> int:
        """A descriptor on a regular file `blobs/sha256/<hex>`, never through a symlink; -1 if absent."""
        for part in (self.root / "blobs", self.root / "blobs" / "sha256"):
            if part.is_symlink():
                raise CheckFailed(f"{part} is a symlink", hint="modellock reads a layout only through its real path")
        try:
            return open_regular(self._blob(digest))
        except FileNotFoundError:
            return -1
        except OSError as exc:
            raise CheckFailed(
                f"cannot read {self._blob(digest)}: {exc.strerror or exc}",
                hint="a layout's blobs are regular files; export the layout again",
            ) from None

    def _manifest_present(self, model: LockedModel, digest: str) -> bool:
        fd = self._open(digest)
        if fd < 0:
            raise CheckFailed(
                f"{self.root} does not hold {model.name} ({model.repo}@{model.commit[:7]}): no manifest {digest[:19]}…",
                hint="export the layout from this lock: `modellock export --oci-layout DIR`",
            )
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_MANIFEST + 1)
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityError(
                f"{self.root}: the manifest of {model.name} does not hash to {digest[:19]}…",
                hint="the layout was changed after it was written; nothing was installed",
                model=model.name,
                expected=digest,
                actual="sha256:" + hashlib.sha256(data).hexdigest(),
            )
        return True

    def fetch(
        self, ref: RepoRef, commit: str, file: RemoteFile, target: Target, *, connections: int | None = None
    ) -> None:
        model = self._locked.model(ref, commit, file)
        if model is None:
            raise CheckFailed(f"{self.root}: {ref.repo}@{commit[:7]} is not in the lock being installed")
        self._locked.holds(model, self._manifest_present)
        fd = self._open(f"sha256:{file.lfs_sha256}")
        if fd < 0:
            raise CheckFailed(f"{self.root} has no blob for {model.name}: {file.path} (sha256:{file.lfs_sha256})")
        with os.fdopen(fd, "rb") as f:
            if os.fstat(f.fileno()).st_size != file.size:
                raise IntegrityError(
                    f"{self.root}: {model.name}: {file.path}: size mismatch: the lock says {file.size} bytes, "
                    f"the layout's blob has {os.fstat(f.fileno()).st_size}",
                    hint="the layout was changed after it was written; nothing was installed",
                    model=model.name,
                    path=file.path,
                    expected=str(file.size),
                    actual=str(os.fstat(f.fileno()).st_size),
                )
            pos = 0
            for start, end in [*target.present(), (file.size, file.size)]:
                _copy(f, target, pos, start)
                pos = max(pos, end)


def _copy(f: BinaryIO, target: Target, start: int, end: int) -> None:
    """Bytes [start, end) of the open file into the target at their offsets."""
    f.seek(start)
    pos = start
    while pos < end:
        chunk = f.read(min(CHUNK, end - pos))
        if not chunk:
            return  # shorter than its size said: the size check after the download tells
        target.write_at(pos, chunk)
        pos += len(chunk)
