"""Locked models from an OCI registry or an OCI image layout, by the digests the lock computes.

Only `fetch` is served here: resolving and listing stay with the model's own source (the Hub). Each
model's manifest is looked up by the digest computed from the lock (`oci.manifest.artifact`), and
each file by the lock's SHA-256, so neither a registry nor a layout can substitute anything; the
bytes are judged, as for every source, by `ops.fetch.check_bytes`.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from modellock.errors import CheckFailed, IntegrityError, NetworkError
from modellock.oci.client import NotInRegistry, Registry
from modellock.oci.manifest import artifact
from modellock.project.lockfile import LockedModel, Lockfile
from modellock.sources.interface import Refs, RemoteFile, RepoRef, Sink, Source

CHUNK = 8 * 1024 * 1024


class _LockedOnly(Source):
    """A source that only serves bytes of models in one lock; everything else goes to `fallback`."""

    def __init__(self, lock: Lockfile, fallback: Source | None) -> None:
        self.name = fallback.name if fallback is not None else "oci"
        self._fallback = fallback
        self._models = {(m.repo, m.repo_type, m.commit): m for m in lock.models}
        self._checked: dict[str, bool] = {}
        self._guard = threading.Lock()

    def _other(self) -> Source:
        if self._fallback is None:
            raise NetworkError("no other source is configured for this model")
        return self._fallback

    def resolve(self, ref: RepoRef, revision: str) -> str:
        return self._other().resolve(ref, revision)

    def list_files(self, ref: RepoRef, commit: str) -> list[RemoteFile]:
        return self._other().list_files(ref, commit)

    def refs(self, ref: RepoRef) -> Refs:
        return self._other().refs(ref)

    def history(self, ref: RepoRef, revision: str) -> Iterator[str]:
        return self._other().history(ref, revision)

    def _model(self, ref: RepoRef, commit: str) -> LockedModel | None:
        return self._models.get((ref.repo, ref.repo_type, commit))

    def _has_artifact(self, model: LockedModel) -> bool:
        """Whether this source holds the model's manifest (computed from the lock), asked once per model."""
        digest = artifact(model).digest
        with self._guard:
            known = self._checked.get(digest)
        if known is None:
            known = self._manifest_present(model, digest)
            with self._guard:
                self._checked[digest] = known
        return known

    def _manifest_present(self, model: LockedModel, digest: str) -> bool:
        raise NotImplementedError

    def _fetch_blob(self, model: LockedModel, file: RemoteFile, sha256: str, sink: Sink) -> None:
        raise NotImplementedError

    def fetch(self, ref: RepoRef, commit: str, file: RemoteFile, sink: Sink) -> None:
        model = self._model(ref, commit)
        if model is None or file.lfs_sha256 is None or not self._has_artifact(model):
            self._other().fetch(ref, commit, file, sink)
            return
        try:
            self._fetch_blob(model, file, file.lfs_sha256, sink)
        except NotInRegistry:
            if self._fallback is None:
                raise
            self._fallback.fetch(ref, commit, file, sink)


class OciRegistrySource(_LockedOnly):
    """A registry the models were pushed to (`modellock push`); models it lacks come from `fallback`."""

    def __init__(self, registry: Registry, lock: Lockfile, fallback: Source | None) -> None:
        super().__init__(lock, fallback)
        self.registry = registry

    @property
    def location(self) -> str:
        return str(self.registry.ref)

    def _name(self, model: LockedModel) -> str:
        return self.registry.ref.repository(model.repo, model.repo_type)

    def _manifest_present(self, model: LockedModel, digest: str) -> bool:
        try:
            self.registry.get_manifest(self._name(model), digest)  # hashed: must be the lock's manifest
        except NotInRegistry:
            return self._fallback is None  # nothing else to try: the blob fetch says what is missing
        return True

    def _fetch_blob(self, model: LockedModel, file: RemoteFile, sha256: str, sink: Sink) -> None:
        from modellock.sources.oci_pull import pull_blob

        pull_blob(self.registry, self._name(model), f"sha256:{sha256}", file, sink)


class OciLayoutSource(_LockedOnly):
    """An OCI image layout on a disk (`export --oci-layout`): the air-gapped source. Nothing else is asked."""

    def __init__(self, root: Path, lock: Lockfile) -> None:
        super().__init__(lock, None)
        self.name = "oci-layout"
        self.root = root
        try:
            marker = (root / "oci-layout").read_bytes()[:4096]
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

    def _blob(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / digest.split(":", 1)[1]

    def _open(self, digest: str) -> int:
        """A descriptor on a regular file `blobs/sha256/<hex>`, never through a symlink; -1 if absent."""
        try:
            fd = os.open(self._blob(digest), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return -1
        except OSError as exc:
            raise CheckFailed(f"cannot read {self._blob(digest)}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise CheckFailed(f"{self._blob(digest)} is not a regular file")
        return fd

    def _manifest_present(self, model: LockedModel, digest: str) -> bool:
        fd = self._open(digest)
        if fd < 0:
            raise CheckFailed(
                f"{self.root} does not hold {model.name} ({model.repo}@{model.commit[:7]}): no manifest {digest[:19]}…",
                hint="export the layout from this lock: `modellock export --oci-layout DIR`",
            )
        with os.fdopen(fd, "rb") as f:
            data = f.read(4 * 1024 * 1024 + 1)
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityError(
                f"{self.root}: the manifest of {model.name} does not hash to {digest[:19]}…",
                hint="the layout was changed after it was written; nothing was installed",
            )
        return True

    def _fetch_blob(self, model: LockedModel, file: RemoteFile, sha256: str, sink: Sink) -> None:
        fd = self._open(f"sha256:{sha256}")
        if fd < 0:
            raise CheckFailed(f"{self.root} has no blob for {model.name}: {file.path} (sha256:{sha256[:12]}…)")
        with os.fdopen(fd, "rb") as f:
            if sink.written:
                f.seek(sink.written)
            while sink.written < file.size + 1 and (chunk := f.read(CHUNK)):
                sink.write(chunk)  # a longer file is caught by the size check
