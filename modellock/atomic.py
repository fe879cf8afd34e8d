"""Replace a small file in one step: readers see the old text or the new one, never half of it."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def write_text(path: Path, text: str) -> None:
    """Write `text` (UTF-8, LF) to `path` through a private temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per process and thread, so concurrent writers never share a temporary file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.unlink(missing_ok=True)  # a leftover of a killed process that had our pid
    # O_EXCL | O_NOFOLLOW: a symlink planted at the temporary name is never written through.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with open(fd, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)
