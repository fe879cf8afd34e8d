"""A model directory as OMS v1.0 enumerates it (§6.1, §6.2): regular files, canonical names, exclusions.

Used to sign a local directory and to verify a signature against one. Symbolic links are never
followed (`allow_symlinks: false`, the only mode modellock signs in) and are refused, as are
special files and names that are not UTF-8: a signer must not sign what it cannot name exactly.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3

from modellock.errors import UsageError

DEFAULT_IGNORES = (".git", ".gitignore", ".gitattributes", ".github")
"""Excluded as top-level entries of the model root (§6.2.1), never deeper."""
HASH_TYPES = ("sha256", "blake3", "blake2b")
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ModelFile:
    """One regular file of the model: its canonical name, where it is, and its size."""

    name: str
    path: Path
    size: int


def canonical_ignore(entry: str) -> str:
    """An ignore path as §6.2.1 allows it (relative, `/`-separated, no glob, no `..`); UsageError otherwise."""
    if any(c in entry for c in "*?[") or entry.startswith("/") or "\\" in entry:
        raise UsageError(
            f"ignore path {entry!r} must be a plain relative path (no glob characters, no leading /)",
            hint="OMS matches ignore paths exactly, from the model root: e.g. `--ignore-path logs`",
        )
    parts = [p for p in entry.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise UsageError(f"ignore path {entry!r} must name something inside the model (no `..`)")
    return "/".join(parts)


def is_ignored(name: str, ignores: Collection[str]) -> bool:
    """Exact relative path or its subtree (§6.2.1); the defaults are top-level names, so the same rule."""
    return any(name == p or name.startswith(p + "/") for p in ignores)


def enumerate_model(root: Path, ignores: Collection[str]) -> list[ModelFile]:
    """Every regular file under `root` (or `root` itself) not ignored, sorted by name; UsageError if none."""
    try:
        st = os.lstat(root)
    except OSError as exc:
        raise UsageError(f"cannot read {root}: {exc.strerror}", hint="name a model directory or file") from None
    if stat.S_ISLNK(st.st_mode):
        raise UsageError(f"{root} is a symbolic link; OMS signs without following links", hint="name the real path")
    if stat.S_ISREG(st.st_mode):
        files = [ModelFile(_utf8(root.name, root), root, st.st_size)]
    elif stat.S_ISDIR(st.st_mode):
        files = sorted(_walk(root, "", ignores), key=lambda f: f.name)
    else:
        raise UsageError(f"{root} is neither a regular file nor a directory")
    if not files:
        raise UsageError(f"{root} holds no file to sign (an empty model is refused, OMS §6.1)")
    return files


def _utf8(name: str, where: Path) -> str:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{where}: the name is not UTF-8, so a signature cannot name it (OMS §6.1.2)") from None
    return name


def _walk(directory: Path, prefix: str, ignores: Collection[str]) -> Iterator[ModelFile]:
    try:
        entries = list(os.scandir(directory))
    except OSError as exc:
        raise UsageError(f"cannot list {directory}: {exc.strerror}") from None
    for entry in entries:
        name = f"{prefix}{_utf8(entry.name, Path(entry.path))}"
        if is_ignored(name, ignores):
            continue
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            raise UsageError(
                f"{entry.path} is a symbolic link; OMS signs with allow_symlinks false and never follows one",
                hint=f"replace it with the file it points to, or exclude it: `--ignore-path {name}`",
            )
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(Path(entry.path), name + "/", ignores)
        elif stat.S_ISREG(st.st_mode):
            yield ModelFile(name, Path(entry.path), st.st_size)
        else:
            raise UsageError(f"{entry.path} is not a regular file", hint=f"exclude it: `--ignore-path {name}`")


def _hasher(algorithm: str):  # type: ignore[no-untyped-def]
    if algorithm == "blake3":
        return blake3.blake3()
    if algorithm == "blake2b":
        return hashlib.blake2b()
    return hashlib.sha256()


def hash_ranges(
    path: Path, size: int, algorithm: str, shard_size: int | None, also: Any = None
) -> list[tuple[int, int, str]]:
    """(start, end, hex digest) of the whole file, or of each shard; no range for an empty file in shard mode.

    The file is opened once without following links, and must still have the size it was listed with.
    `also`, a hasher, sees the same bytes: what was signed is then proved to be what was checked.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with open(fd, "rb") as f:
        if os.fstat(f.fileno()).st_size != size:
            raise UsageError(f"{path} changed size while it was being signed", hint="sign again once it is written")
        step = shard_size or max(size, 1)
        out = []
        for start in range(0, size if shard_size else max(size, 1), step):
            end = min(start + step, size)
            digest = _hasher(algorithm)
            remaining = end - start
            while remaining > 0:
                chunk = f.read(min(_CHUNK, remaining))
                if not chunk:
                    raise UsageError(f"{path} shrank while it was being signed")
                digest.update(chunk)
                if also is not None:
                    also.update(chunk)
                remaining -= len(chunk)
            out.append((start, end, digest.hexdigest()))
        return out
