"""Replace a small file in one step: readers see the old text or the new one, never half of it."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from modellock.store.leftovers import left_by_dead_writer

# `.modellock-tmp-<pid>-<thread>-<name>`: the pid tells a later run whether the writer is gone.
TMP_PREFIX = ".modellock-tmp-"


def temp_name(name: str) -> str:
    """A temporary sibling name, unique per process and thread, that `clean_temps` recognises."""
    return f"{TMP_PREFIX}{os.getpid()}-{threading.get_ident()}-{name}"


def write_text(path: Path, text: str) -> None:
    """Write `text` (UTF-8, LF) to `path` through a private temporary file and a rename.

    A failed write removes its temporary file at once; one left by a killed process is removed
    by the next write into the same directory (and by `clean_temps`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_temps(path.parent)
    tmp = path.with_name(temp_name(path.name))
    try:
        # O_EXCL | O_NOFOLLOW: a symlink planted at the temporary name is never written through.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with open(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            from modellock.store.diskspace import write_failed

            raise write_failed(exc, path, len(text.encode())) from None
        raise


def clean_temps(directory: Path) -> int:
    """Remove temporary files that dead processes left in `directory`; returns how many."""
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        if left_by_dead_writer(entry.name, TMP_PREFIX):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed += 1
    return removed
