"""A blob's mtime as its seal: a stat, not a read, tells whether its bytes may have changed."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

# The mtime of blobs on filesystems that cannot keep the seal's nanoseconds (see `seal`).
BLOB_MTIME_NS = 1_000_000_000
_PROBE_NS = 1_234_567_891

# Per device: whether an mtime's nanoseconds are kept exactly (probed once per process).
_EXACT: dict[int, bool] = {}


def _seal_fraction(blake3: str) -> int:
    return int(blake3[:8], 16) % 999_999_999 + 1


def seal(path: Path, blake3: str) -> None:
    """Date a blob now, to the second, with nanoseconds taken from its name.

    Any later write sets the mtime to the clock's nanoseconds, which match the name's by chance
    once in ~10^9, so a stat tells whether a blob may have changed without reading it (the Nix
    store's fixed mtime, but with a real date, so `ls -l` of a hardlinked install looks sane).
    Filesystems that cannot keep those nanoseconds get the fixed 1970 date instead.
    """
    wanted = time.time_ns() // 1_000_000_000 * 1_000_000_000 + _seal_fraction(blake3)
    os.utime(path, ns=(wanted, wanted), follow_symlinks=False)  # a planted link is never dated through
    if os.stat(path, follow_symlinks=False).st_mtime_ns != wanted:
        os.utime(path, ns=(BLOB_MTIME_NS, BLOB_MTIME_NS), follow_symlinks=False)


def sealed(st: os.stat_result, blake3: str, scratch: Path) -> bool:
    """Whether a blob's stat shows the seal `seal` gave it.

    The fixed 1970 date counts only where the filesystem could not have kept the nanoseconds:
    anyone can `touch -d @1` a file, so on a filesystem with nanoseconds it proves nothing.
    `scratch` is a writable directory on the store's filesystem, where that is probed.
    """
    if st.st_mtime_ns % 1_000_000_000 == _seal_fraction(blake3):
        return True
    return st.st_mtime_ns == BLOB_MTIME_NS and not keeps_nanoseconds(scratch, st.st_dev)


def keeps_nanoseconds(scratch: Path, device: int) -> bool:
    """Whether files on `device` keep an mtime's nanoseconds, probed with a file in `scratch`.

    Unknown (the probe cannot be written, or `scratch` is on another device) counts as yes: the
    blob is then re-hashed, which costs time, never safety.
    """
    if device in _EXACT:
        return _EXACT[device]
    probe = scratch / f".mtime-probe-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        scratch.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError:
        return True
    try:
        os.utime(fd, ns=(_PROBE_NS, _PROBE_NS))
        st = os.fstat(fd)
        if st.st_dev != device:
            return True
        _EXACT[device] = st.st_mtime_ns == _PROBE_NS
        return _EXACT[device]
    except OSError:
        return True
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            probe.unlink()
