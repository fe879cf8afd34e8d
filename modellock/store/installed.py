"""What modellock knows about a directory it installed: the marker file and the atomic swap."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from modellock import jsonread
from modellock.project.lockfile import LockedFile, LockedModel
from modellock.store import atomic
from modellock.store.hfcache import is_snapshot, record_path
from modellock.store.leftovers import pid_alive, writer_pid
from modellock.store.libc import exchange

MARKER = ".modellock-install.json"
STAGING = ".modellock-staging-"
RETIRED = ".modellock-retired-"


class FileStat(NamedTuple):
    """What a cheap `stat` says about an installed file (a tuple: status compares 100k of them)."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: str | os.PathLike[str], *, follow: bool = True) -> FileStat:
        """`follow` for the hf-cache layout, whose snapshot entries are symlinks to their blobs."""
        st = os.stat(path, follow_symlinks=follow)
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


@dataclass(frozen=True)
class InstallState:
    """The marker inside an owned directory: which snapshot it holds and each file's stat at install."""

    name: str
    commit: str
    digest: str
    files: dict[str, FileStat]

    def dumps(self) -> str:
        files = {p: [s.size, s.mtime_ns, s.inode] for p, s in sorted(self.files.items())}
        data = {"name": self.name, "commit": self.commit, "digest": self.digest, "files": files}
        return json.dumps(data, indent=0, sort_keys=True)


def target_of(model: LockedModel, project_dir: Path) -> Path:
    """The directory holding exactly the model's files: its own tree, or its snapshot in an HF cache."""
    path = Path(os.path.expanduser(model.install_path))
    root = path if path.is_absolute() else project_dir / path
    if model.layout == "hf-cache":
        return root / hf_repo_folder(model) / "snapshots" / model.commit
    return root


def installed_stat(model: LockedModel, base: str, file: LockedFile) -> FileStat | None:
    """The stat of an installed file if it has the shape its layout gives it, else None; FileNotFoundError if gone.

    `dir`: a regular file (a symlink here could point anywhere, so it is never followed).
    `hf-cache`: a symlink to exactly `../…/blobs/<sha256>`, stat'ed through to that blob.
    """
    full = base + file.path
    if model.layout == "hf-cache":
        try:
            link = os.readlink(full)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            return None
        if link != "../" * (file.path.count("/") + 2) + "blobs/" + file.sha256:
            return None
        return FileStat.of(full)
    st = os.lstat(full)
    return FileStat(st.st_size, st.st_mtime_ns, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def hf_repo_folder(model: LockedModel) -> str:
    """The Hugging Face cache's folder name for a repository: `models--org--name`."""
    return f"{model.repo_type}s--" + model.repo.replace("/", "--")


def read_state(target: Path) -> InstallState | None:
    """The marker of an owned directory; None if the directory is not ours (or has no valid marker)."""
    # An hf-cache snapshot's record sits outside it; older versions put it inside.
    paths = [record_path(target), target / MARKER] if is_snapshot(target) else [target / MARKER]
    text = None
    for path in paths:
        with contextlib.suppress(OSError, ValueError):  # ValueError: a NUL in a hand-edited path
            text = path.read_text(encoding="utf-8")
            break
    if text is None:
        return None
    try:
        data: Any = jsonread.loads(text, MARKER)
        files = {p: FileStat(*v) for p, v in data["files"].items()}
        return InstallState(data["name"], data["commit"], data["digest"], files)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def user_files(target: Path) -> list[str]:
    """Everything under `target` but modellock's marker, never following a symlink (relative, `/`-separated).

    Files, symlinks of any kind (a symlink to a directory is an entry, not a tree to descend into)
    and empty directories (with a trailing `/`): anything here that the lock does not list is extra.
    """
    if os.path.islink(target) or not target.is_dir():
        return []
    found = []
    for dirpath, dirs, names in os.walk(target):
        rel = os.path.relpath(dirpath, target)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        if not dirs and not names and prefix:
            found.append(prefix)
        linked = [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]
        found += [prefix + name for name in (*names, *linked) if prefix + name != MARKER]
    return sorted(found)


def holds_anything(target: Path) -> bool:
    """True if `target` is a directory with any entry at all (an empty subdirectory or a symlink counts)."""
    try:
        with os.scandir(target) as entries:
            return any(True for _ in entries)
    except (FileNotFoundError, NotADirectoryError):
        return False


def symlinked_part(base: Path, *parts: str) -> Path | None:
    """The first of `base/parts[0]`, `base/parts[0]/parts[1]`, ... that is a symlink, or None."""
    path = base
    for part in parts:
        for piece in part.split("/"):
            path = path / piece
            if path.is_symlink():
                return path
    return None


def staging_dir(target: Path) -> Path:
    """A fresh sibling directory to build the new tree in (same filesystem, so renames are atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    path = target.parent / f"{STAGING}{target.name}-{os.getpid()}-{os.urandom(4).hex()}"
    path.mkdir()
    return path


def swap_in(staged: Path, target: Path) -> None:
    """Make `staged` the tree at `target`: readers see the old tree or the new one, never a mix."""
    if not target.exists():
        os.rename(staged, target)
        return
    if exchange(staged, target):
        shutil.rmtree(staged, ignore_errors=True)
        return
    # No atomic exchange here: park the old tree under a name the next run recognises and restores.
    retired = target.parent / f"{RETIRED}{target.name}"
    os.rename(target, retired)
    os.rename(staged, target)
    shutil.rmtree(retired, ignore_errors=True)


def recover(target: Path) -> None:
    """Undo what a killed run left beside `target`: staging trees go, a parked old tree comes back."""
    parent = target.parent
    if not parent.is_dir():
        return
    retired = parent / f"{RETIRED}{target.name}"
    if retired.is_symlink():
        retired.unlink()  # never ours: we park directories, and never move a planted link into place
    elif retired.exists():
        # Parked by a swap (marker intact): bring it back. Parked by a removal, whose first step
        # after parking is to drop the marker: finish removing it.
        parked_by_swap = (retired / MARKER).exists() or (is_snapshot(target) and record_path(target).exists())
        if target.exists() or not parked_by_swap:
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(retired, target)
    prefix = f"{STAGING}{target.name}-"
    for entry in parent.iterdir():
        if entry.name.startswith(prefix):
            pid = writer_pid(entry.name, prefix)
            if pid is not None and pid != os.getpid() and pid_alive(pid):
                continue  # another sync is building it right now
            shutil.rmtree(entry, ignore_errors=True)


def remove_installed(target: Path) -> None:
    """Delete an owned tree: parked first under the name `recover` knows, so a kill midway is finished next run."""
    retired = target.parent / f"{RETIRED}{target.name}"
    os.rename(target, retired)
    (retired / MARKER).unlink(missing_ok=True)  # from here on, `recover` finishes the removal
    if is_snapshot(target):
        record_path(target).unlink(missing_ok=True)
    shutil.rmtree(retired, ignore_errors=True)


def write_state(directory: Path, state: InstallState, target: Path | None = None) -> None:
    """Record the install in the tree being built, or, for an hf-cache snapshot `target`, beside it."""
    path = record_path(target) if target is not None and is_snapshot(target) else directory / MARKER
    atomic.write_text(path, state.dumps())


def remove_tree(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)
