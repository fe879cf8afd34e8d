"""The two Linux calls Python does not wrap (renameat2, sync_file_range), loaded once through ctypes."""

from __future__ import annotations

import os
import sys
from functools import cache
from typing import Any


@cache
def _libc() -> Any:
    import ctypes
    import ctypes.util

    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


@cache
def _function(name: str) -> Any:
    """A libc function, or None off Linux or where this libc lacks it."""
    if not sys.platform.startswith("linux"):
        return None
    return getattr(_libc(), name, None)


def exchange(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Swap two paths in one step (renameat2 RENAME_EXCHANGE); False where unsupported."""
    renameat2 = _function("renameat2")
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    return bool(renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0)


def start_writeback(fd: int, offset: int, length: int) -> None:
    """sync_file_range(SYNC_FILE_RANGE_WRITE): queue a range for disk without waiting (a failure only
    loses the head start)."""
    call = _function("sync_file_range")
    if call is None:
        return
    if call.argtypes is None:
        import ctypes

        call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call(fd, offset, length, 2)
