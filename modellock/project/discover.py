"""Which project a command acts on: `--project`, else the nearest directory upwards with a manifest."""

from __future__ import annotations

import os
from pathlib import Path

MANIFEST_NAME = "modellock.toml"
LOCK_NAME = "modellock.lock"


def find_project(start: Path) -> Path:
    """The nearest of `start` and its parents holding modellock.toml (else modellock.lock), like uv and git.

    Where there is neither, `start` itself: `init` creates the manifest there, and other commands
    say no manifest was found there.
    """
    here = start.absolute()
    for name in (MANIFEST_NAME, LOCK_NAME):
        for directory in (here, *here.parents):
            if (directory / name).is_file():
                # Relative, as git prints it (`../modellock.toml`), so messages stay short.
                return Path(os.path.relpath(directory, here)) if directory != here else start
    return start
