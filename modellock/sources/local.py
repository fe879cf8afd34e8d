"""A model kept in a local directory: its files, hashed by us, never through a symlink.

A directory has no history, so its "commit" is a name for its listing (every regular file's path
and size). `lock` refuses to build on a listing that changed since (`--upgrade-model` takes the
new one); `sync` copies the locked files from the directory when the store lacks them, and the
lock's digests judge them like any download.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import blake3

from modellock.download.location import Target
from modellock.errors import CheckFailed, IntegrityError, ModellockError
from modellock.project.lockfile import LockedModel
from modellock.project.paths import unsafe_reason
from modellock.sources.interface import RemoteFile, RepoRef
from modellock.sources.pinned import PinnedSource, Proof, Selects, listing_name, selection_problems

CHUNK = 1 << 20
MAX_FILES = 100_000
"""A model directory with more files than this is almost surely the wrong directory (a home, a dataset root)."""


class LocalSource(PinnedSource):
    """Model directories on this machine; relative ones are relative to the project."""

    name = "local"

    def __init__(self, project_dir: Path | None = None) -> None:
        self.base = project_dir if project_dir is not None else Path(".")

    @property
    def location(self) -> str:
        return "local directories"

    def root(self, ref: RepoRef) -> Path:
        path = Path(ref.repo).expanduser()
        return path if path.is_absolute() else self.base / path

    def _entries(self, ref: RepoRef) -> list[tuple[str, int]]:
        """Every regular file below the root as (relative path, size), sorted; links and devices refused."""
        root = self.root(ref)
        try:
            if not stat.S_ISDIR(os.stat(root).st_mode):  # the named directory itself may be a link: the user chose it
                raise CheckFailed(f"{ref.repo} is not a directory", hint="`modellock add` takes a model's directory")
        except FileNotFoundError:
            raise CheckFailed(
                f"local model directory {ref.repo} does not exist (looked in {root})",
                hint="relative paths are relative to the project directory, where modellock.toml is",
            ) from None
        except OSError as exc:
            raise CheckFailed(f"cannot read {root}: {exc.strerror or exc}") from None
        found: list[tuple[str, int]] = []
        for rel, info in _walk(root, ""):
            if stat.S_ISLNK(info.st_mode):
                raise CheckFailed(
                    f"{ref.repo}: {rel} is a symbolic link; modellock does not follow links inside a local model",
                    hint="put the file itself there (a Hugging Face cache snapshot is all links: "
                    "lock the repository from the Hub, or copy the snapshot with `cp -rL`)",
                )
            if not stat.S_ISREG(info.st_mode):
                raise CheckFailed(f"{ref.repo}: {rel} is not a regular file or directory")
            found.append((rel, info.st_size))
            if len(found) > MAX_FILES:
                raise CheckFailed(f"{ref.repo} holds more than {MAX_FILES} files: is it a model's directory?")
        return sorted(found)

    def resolve(self, ref: RepoRef, revision: str) -> str:
        return listing_name(f"{path}\0{size}" for path, size in self._entries(ref))

    def list_files(self, ref: RepoRef, commit: str, *, scans: bool = False) -> list[RemoteFile]:
        entries = self._entries(ref)
        if listing_name(f"{path}\0{size}" for path, size in entries) != commit:
            raise CheckFailed(
                f"the files in {ref.repo} changed since it was locked",
                hint="lock what it holds now: `modellock lock --upgrade` (or --upgrade-model NAME)",
            )
        # Our own SHA-256 of each file stands where the Hub's listing would: the store reuses a blob it
        # already holds by it, and the copy into the store must hash to it (a file changed meanwhile is refused).
        return [RemoteFile(path, size, git_oid="", lfs_sha256=self._sha256(ref, path, size)) for path, size in entries]

    def _sha256(self, ref: RepoRef, path: str, size: int) -> str:
        digest = hashlib.sha256()
        with os.fdopen(self._open(ref, path, size), "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def _open(self, ref: RepoRef, path: str, size: int) -> int:
        """A descriptor on `path` under the root, each component opened without following links."""
        reason = unsafe_reason(path)
        if reason:
            raise CheckFailed(f"{ref.repo}: refusing file path {path!r}: {reason}")
        try:
            fd = open_inside(self.root(ref), path)
        except OSError as exc:
            raise CheckFailed(
                f"cannot read {path} in {ref.repo}: {exc.strerror or exc}",
                hint="the directory changed since it was locked, or is not this machine's copy",
            ) from None
        actual = os.fstat(fd).st_size
        if actual != size:
            os.close(fd)
            raise IntegrityError(
                f"{ref.repo}: {path} is {actual} bytes, expected {size}",
                hint="the file changed since it was locked; nothing was stored",
            )
        return fd

    def fetch(
        self, ref: RepoRef, commit: str, file: RemoteFile, target: Target, *, connections: int | None = None
    ) -> None:
        with os.fdopen(self._open(ref, file.path, file.size), "rb") as f:
            pos = 0
            for start, end in [*target.present(), (file.size, file.size)]:
                f.seek(pos)
                while pos < start:
                    chunk = f.read(min(CHUNK, start - pos))
                    if not chunk:
                        return  # shorter than listed: the size check after the copy says so
                    target.write_at(pos, chunk)
                    pos += len(chunk)
                pos = max(pos, end)

    def prove(self, model: LockedModel, selects: Selects | None) -> Proof:
        """Re-hash the locked files where the directory is: it still holds the locked bytes, or not."""
        ref = RepoRef(model.repo)
        try:
            entries = dict(self._entries(ref))
        except ModellockError as exc:
            return Proof([exc.message], 0)
        problems, read = [], 0
        for locked in model.files:
            if locked.path not in entries:
                problems.append(f"{locked.path} is not in {model.repo} any more")
                continue
            if entries[locked.path] != locked.size:
                now = entries[locked.path]
                problems.append(f"{locked.path} is {now} bytes in {model.repo}, the lock says {locked.size}")
                continue
            try:
                b3 = self._blake3(ref, locked.path, locked.size)
            except ModellockError as exc:
                problems.append(exc.message)
                continue
            read += locked.size
            if b3 != locked.blake3:
                problems.append(
                    f"{locked.path} in {model.repo} hashes to {b3[:16]}…, the lock says {locked.blake3[:16]}…"
                )
        problems.extend(selection_problems(model, sorted(entries), selects))
        return Proof(problems, read)

    def _blake3(self, ref: RepoRef, path: str, size: int) -> str:
        hasher = blake3.blake3()
        with os.fdopen(self._open(ref, path, size), "rb") as f:
            while chunk := f.read(CHUNK):
                hasher.update(chunk)
        return hasher.hexdigest()


def _walk(root: Path, prefix: str) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) of every non-directory below `root`; directories are entered, links are not."""
    try:
        entries = sorted(os.scandir(root / prefix if prefix else root), key=lambda e: e.name)
    except OSError as exc:
        raise CheckFailed(f"cannot list {root / prefix}: {exc.strerror or exc}") from None
    for entry in entries:
        rel = f"{prefix}/{entry.name}" if prefix else entry.name
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            yield from _walk(root, rel)
        else:
            yield rel, info


def open_inside(root: Path, path: str) -> int:
    """Open `root/path` for reading, refusing a symlink at any component below `root` (no TOCTOU)."""
    parts = path.split("/")
    dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            os.close(dir_fd)
            dir_fd = next_fd
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", path)
    return fd
