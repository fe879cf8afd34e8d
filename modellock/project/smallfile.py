"""Small files a user or a manifest names (keys, certificates, passwords, trust configurations), read with a bound.

A path can name `/dev/zero` or a multi-gigabyte file by mistake or by a pull request's design: read
whole, that is a MemoryError, not an error message. Nothing read through here is larger than a few
kilobytes when it is what it claims to be.
"""

from __future__ import annotations

from pathlib import Path

MAX_BYTES = 1 << 20


class TooLarge(OSError):
    """More than MAX_BYTES: not the small file it was named as."""


def read_small(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The file's bytes; TooLarge (an OSError, with `strerror`) beyond `limit`."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(0, f"larger than {limit >> 20} MiB, so not a key, certificate, password or trust file")
    return data
