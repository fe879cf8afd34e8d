"""An OCI image layout on disk (`oci-layout`, `index.json`, `blobs/sha256/…`): the air-gapped carrier.

Writing only: bytes go to a temporary file beside their name and are renamed into place, so an
interrupted export never leaves a blob that has a digest's name and other bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from modellock.errors import CheckFailed, UsageError
from modellock.oci.manifest import ARTIFACT_TYPE, INDEX_TYPE, MANIFEST_TYPE, Artifact, canonical

REF_NAME = "org.opencontainers.image.ref.name"
MARKER = b'{"imageLayoutVersion":"1.0.0"}'


class LayoutWriter:
    """A layout directory being written; `index.json` is written last, by `finish`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.entries: dict[str, dict[str, Any]] = {}
        if root.exists() and not root.is_dir():
            raise UsageError(f"{root} exists and is not a directory")
        if root.is_dir() and any(root.iterdir()) and not (root / "oci-layout").is_file():
            raise UsageError(
                f"{root} is not empty and not an OCI layout", hint="give a new or empty directory, or an OCI layout"
            )
        for entry in self._old_index():
            name = entry.get("annotations", {}).get(REF_NAME) if isinstance(entry.get("annotations"), dict) else None
            self.entries[str(name) if name else str(entry.get("digest"))] = entry
        self.blobs.mkdir(parents=True, exist_ok=True)
        _write(root / "oci-layout", MARKER)
        self.written = 0
        self.written_bytes = 0

    def _old_index(self) -> list[dict[str, Any]]:
        try:
            data = json.loads((self.root / "index.json").read_bytes())
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            raise CheckFailed(f"{self.root}/index.json is not readable JSON", hint="give a new directory") from None
        manifests = data.get("manifests") if isinstance(data, dict) else None
        return [m for m in manifests if isinstance(m, dict)] if isinstance(manifests, list) else []

    def _present(self, digest: str, size: int) -> bool:
        path = self.blobs / digest.split(":", 1)[1]
        try:
            if path.is_symlink() or path.stat().st_size != size:
                return False
            h = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(8 << 20):
                    h.update(chunk)
        except OSError:
            return False
        return "sha256:" + h.hexdigest() == digest

    def add_file(self, digest: str, size: int, source: Path) -> None:
        """A blob copied from the store (verified there), unless the layout already holds those bytes."""
        if self._present(digest, size):
            return
        target = self.blobs / digest.split(":", 1)[1]
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self.written += 1
        self.written_bytes += size

    def add_bytes(self, digest: str, data: bytes) -> None:
        if not self._present(digest, len(data)):
            _write(self.blobs / digest.split(":", 1)[1], data)

    def add_artifact(self, art: Artifact, ref_name: str) -> None:
        self.add_bytes(art.config_digest, art.config)
        self.add_bytes(art.digest, art.manifest)
        self.entries[ref_name] = {
            "mediaType": MANIFEST_TYPE,
            "artifactType": ARTIFACT_TYPE,
            "digest": art.digest,
            "size": len(art.manifest),
            "annotations": {REF_NAME: ref_name},
        }

    def finish(self) -> None:
        index = {
            "schemaVersion": 2,
            "mediaType": INDEX_TYPE,
            "manifests": [self.entries[k] for k in sorted(self.entries)],
        }
        _write(self.root / "index.json", canonical(index))


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
