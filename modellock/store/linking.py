"""Put a store blob at a target path: reflink, hardlink or copy, decided once per run."""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import os
import shutil
from pathlib import Path

_FICLONE = 0x40049409  # Linux ioctl: share extents copy-on-write (btrfs, XFS, bcachefs).


class LinkMode(str, enum.Enum):
    """How installed files relate to the store."""

    REFLINK = "reflink"
    HARDLINK = "hardlink"
    COPY = "copy"


class LinkFailed(OSError):
    """This mode does not work between these two places."""


def _reflink(src: Path, dst: Path) -> None:
    with open(src, "rb") as s, open(dst, "xb") as d:
        try:
            fcntl.ioctl(d.fileno(), _FICLONE, s.fileno())
        except OSError as exc:
            d.close()
            dst.unlink()
            raise LinkFailed(exc.errno, f"reflink: {exc.strerror}") from None


def _hardlink(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise LinkFailed(exc.errno, f"hardlink: {exc.strerror}") from None
        raise


def _copy(src: Path, dst: Path) -> None:
    try:
        shutil.copyfile(src, dst)
    except OSError as exc:
        from modellock.store.diskspace import describe

        # shutil names the source; the filesystem that is full or read-only is the destination's.
        dst.unlink(missing_ok=True)
        raise describe(exc, dst, os.stat(src).st_size) or exc from None
    os.chmod(dst, 0o444)


_ACTIONS = {LinkMode.REFLINK: _reflink, LinkMode.HARDLINK: _hardlink, LinkMode.COPY: _copy}
_FALLBACK = [LinkMode.REFLINK, LinkMode.HARDLINK, LinkMode.COPY]


class Linker:
    """Links files with the first mode that works; remembers it and the warning, if any, for the run."""

    def __init__(self, requested: LinkMode | None = None) -> None:
        self._requested = requested
        self.mode: LinkMode | None = requested
        self.warning: str | None = None

    def link(self, src: Path, dst: Path) -> None:
        if self.mode is not None:
            try:
                _ACTIONS[self.mode](src, dst)
            except LinkFailed as exc:
                if self._requested is None:
                    raise
                from modellock.errors import ModellockError

                # Asked for by name, so no silent fallback: say why and what would work.
                raise ModellockError(
                    f"--link-mode {self.mode.value} does not work between the store ({src.parent.parent.parent}) "
                    f"and {dst.parent}: {exc.strerror}",
                    hint="use --link-mode hardlink or copy (or [settings] link-mode), or leave it unset to fall back "
                    "automatically",
                ) from None
            return
        failures = []
        for mode in _FALLBACK:
            try:
                _ACTIONS[mode](src, dst)
            except LinkFailed as exc:
                failures.append(str(exc.strerror))
                with contextlib.suppress(FileNotFoundError):
                    dst.unlink()
                continue
            self.mode = mode
            if mode is LinkMode.COPY:  # like uv, only the costly fallback is worth a warning
                self.warning = (
                    f"{' and '.join(failures)} not possible between the store and the target; using {mode.value}"
                    " (set --link-mode to choose and silence this)"
                )
            return
        raise AssertionError("copy never raises LinkFailed")
