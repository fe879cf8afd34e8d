"""A blob's mtime as its seal: a stat, not a read, tells whether its bytes may have changed."""

from __future__ import annotations

import os
import time
from pathlib import Path

# The mtime of blobs on filesystems without sub-second timestamps (see `seal`).
BLOB_MTIME_NS = 1_000_000_000


def _seal_fraction(blake3: str) -> int:
    return int(blake3[:8], 16) % 999_999_999 + 1


def seal(path: Path, blake3: str) -> None:
    """Date a blob now, to the second, with nanoseconds taken from its name.

    Any later write sets the mtime to the clock's nanoseconds, which match the name's by chance
    once in ~10^9, so a stat tells whether a blob may have changed without reading it (the Nix
    store's fixed mtime, but with a real date, so `ls -l` of a hardlinked install looks sane).
    Filesystems that keep whole seconds only get the fixed 1970 date instead.
    """
    wanted = time.time_ns() // 1_000_000_000 * 1_000_000_000 + _seal_fraction(blake3)
    os.utime(path, ns=(wanted, wanted), follow_symlinks=False)  # a planted link is never dated through
    if os.stat(path, follow_symlinks=False).st_mtime_ns != wanted:
        os.utime(path, ns=(BLOB_MTIME_NS, BLOB_MTIME_NS), follow_symlinks=False)


def sealed(st: os.stat_result, blake3: str) -> bool:
    return st.st_mtime_ns == BLOB_MTIME_NS or st.st_mtime_ns % 1_000_000_000 == _seal_fraction(blake3)
