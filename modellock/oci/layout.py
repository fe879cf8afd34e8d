"""An OCI image layout on disk (`oci-layout`, `index.json`, `blobs/sha256/…`): the air-gapped carrier.

Writing only: bytes go to a temporary file beside their name and are renamed into place, so an
interrupted export never leaves a blob that has a digest's name and other bytes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from modellock import jsonread
from modellock.errors import CheckFailed, UsageError
from modellock.oci.manifest import ARTIFACT_TYPE, INDEX_TYPE, MANIFEST_TYPE, Artifact, canonical

REF_NAME = "org.opencontainers.image.ref.name"
MARKER = b'{"imageLayoutVersion":"1.0.0"}'
_MAX_INDEX = 16 * 1024 * 1024


def open_regular(path: Path, flags: int = os.O_RDONLY) -> int:
    """A descriptor on a regular file at `path`: never through a symlink, never blocking on a FIFO or a device."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return fd


def read_regular(path: Path, limit: int) -> bytes:
    """A small file's bytes (`open_regular`), refused beyond `limit` bytes."""
    with os.fdopen(open_regular(path), "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
    return data


class LayoutWriter:
    """A layout directory being written; `index.json` is written last, by `finish`.

    A layout is a place on someone's disk: its directories may not be symlinks, its files are
    written through private temporary files (`O_EXCL | O_NOFOLLOW`) and renamed, and a failure to
    write is a refusal naming the path.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.entries: dict[str, dict[str, Any]] = {}
        for part in (root, root / "blobs", self.blobs):
            if part.is_symlink():
                raise UsageError(
                    f"{part} is a symlink", hint="give the layout's real path; modellock does not write through links"
                )
        if root.exists() and not root.is_dir():
            raise UsageError(f"{root} exists and is not a directory")
        if root.is_dir() and any(root.iterdir()) and not (root / "oci-layout").is_file():
            raise UsageError(
                f"{root} is not empty and not an OCI layout", hint="give a new or empty directory, or an OCI layout"
            )
        for entry in self._old_index():
            name = entry.get("annotations", {}).get(REF_NAME) if isinstance(entry.get("annotations"), dict) else None
            self.entries[str(name) if name else str(entry.get("digest"))] = entry
        try:
            self.blobs.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _cannot_write(self.blobs, exc) from None
        if self.blobs.is_symlink() or (root / "blobs").is_symlink():
            raise UsageError(f"{self.blobs} is a symlink", hint="modellock does not write through links")
        _write(root / "oci-layout", MARKER)
        self.written = 0
        self.written_bytes = 0

    def _old_index(self) -> list[dict[str, Any]]:
        try:
            data = jsonread.loads(read_regular(self.root / "index.json", _MAX_INDEX), "index.json")
        except FileNotFoundError:
            return []
        except (OSError, ValueError):  # jsonread.MalformedJSON is a ValueError
            raise CheckFailed(f"{self.root}/index.json is not readable JSON", hint="give a new directory") from None
        manifests = data.get("manifests") if isinstance(data, dict) else None
        return [m for m in manifests if isinstance(m, dict)] if isinstance(manifests, list) else []

    def _present(self, digest: str, size: int) -> bool:
        path = self.blobs / digest.split(":", 1)[1]
        try:
            with os.fdopen(open_regular(path), "rb") as f:
                if os.fstat(f.fileno()).st_size != size:
                    return False
                h = hashlib.sha256()
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
        with open(source, "rb") as src:
            _replace(target, lambda out: shutil.copyfileobj(src, out, 8 << 20))
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
    _replace(path, lambda out: out.write(data))


def _replace(path: Path, fill: Callable[[BinaryIO], object]) -> None:
    """Write `path` through a private temporary file beside it (never through a planted link), then rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644), "wb") as out:
            fill(out)
        os.replace(tmp, path)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _cannot_write(path: Path, exc: OSError) -> CheckFailed:
    return CheckFailed(
        f"cannot write {path}: {exc.strerror or exc}",
        hint="give a new or empty directory, or a layout modellock wrote",
    )
