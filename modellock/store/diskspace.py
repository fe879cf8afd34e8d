"""Disks that are full, read-only or not ours: a message naming the filesystem and what was needed."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from modellock.errors import ModellockError


def _existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def mount_point(path: Path) -> Path:
    path = _existing(path)
    while not os.path.ismount(path):
        path = path.parent
    return path


def filesystem(path: Path) -> str:
    """`tmpfs at /mnt/small`, or just the mount point where the type cannot be read."""
    mount = mount_point(path)
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as f:
            types = {parts[1]: parts[2] for parts in (line.split() for line in f) if len(parts) > 2}
    except OSError:
        types = {}
    kind = types.get(str(mount).replace(" ", "\\040"))
    return f"{kind} at {mount}" if kind else str(mount)


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(_existing(path)).free


def _size(n: int) -> str:
    from modellock.text import human_size

    return human_size(n)


def check_free(path: Path, needed: int, what: str) -> None:
    """Refuse before starting when the filesystem holding `path` cannot take `needed` more bytes."""
    free = free_bytes(path)
    if needed > free:
        raise ModellockError(
            f"not enough space for {what}: {_size(needed)} needed, {_size(free)} free on {filesystem(path)}",
            hint=f"free {_size(needed - free)} or more there, or point MODELLOCK_CACHE_DIR (or [settings] store) "
            "at a larger filesystem",
        )


_FULL = (errno.ENOSPC, errno.EDQUOT)
_DENIED = (errno.EACCES, errno.EPERM)


def describe(exc: OSError, path: Path | str | None = None, needed: int | None = None) -> ModellockError | None:
    """A ModellockError for an OS failure a user can fix (full, read-only, denied, name too long), else None."""
    where = path if path is not None else exc.filename
    target = Path(os.fsdecode(where)) if where is not None else None
    fs = f" on {filesystem(target)}" if target is not None else ""
    at = f" {target}" if target is not None else ""
    if exc.errno in _FULL:
        need = f" ({_size(needed)} more needed)" if needed else ""
        return ModellockError(
            f"no space left{fs} while writing{at}{need}",
            hint="free some space there (`modellock cache prune` drops unused blobs), or use a larger filesystem",
        )
    if exc.errno == errno.EROFS:
        return ModellockError(
            f"cannot write{at}: the filesystem is read-only{fs}",
            hint="point MODELLOCK_CACHE_DIR (or [settings] store, or the model's `path`) at a writable place",
        )
    if exc.errno in _DENIED:
        return ModellockError(
            f"permission denied: cannot write{at}",
            hint="fix the directory's permissions, or point MODELLOCK_CACHE_DIR (or [settings] store) elsewhere",
        )
    if exc.errno == errno.ENAMETOOLONG:
        return ModellockError(
            f"a file name is too long for the filesystem{fs}:{at}",
            hint="install the model under a shorter `path`, or leave the file out with `exclude`",
        )
    return None


def write_failed(exc: OSError, path: Path, needed: int) -> BaseException:
    """What to raise when writing `path` failed: a clean error where the cause is the disk, else `exc`."""
    return describe(exc, path, needed) or exc
