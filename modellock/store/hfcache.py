"""The `hf-cache` layout's own rules: where modellock's record goes, and which ref a model writes.

A snapshot must hold exactly the repository's files, or `hf cache verify --fail-on-extra-files`
fails and `scan_cache_dir()` counts one file too many. So the install record of a snapshot lives
beside `snapshots/`, in the repository folder: `models--org--name/.modellock/<commit>.json`.
huggingface_hub reads only `blobs/`, `refs/` and `snapshots/` there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modellock.project.lockfile import LockedModel

RECORDS = ".modellock"
_REPO_FOLDER = re.compile(r"^(?:model|dataset|space)s--.+")
_COMMIT = re.compile(r"^[0-9a-f]{40}\Z")


def is_snapshot(target: Path) -> bool:
    """`<cache>/models--org--name/snapshots/<commit>`: the target of an hf-cache model."""
    return (
        bool(_COMMIT.match(target.name))
        and target.parent.name == "snapshots"
        and bool(_REPO_FOLDER.match(target.parent.parent.name))
    )


def record_path(snapshot: Path) -> Path:
    return snapshot.parent.parent / RECORDS / f"{snapshot.name}.json"


def ref_names(model: LockedModel, base: bool = False) -> list[str]:
    """The refs a model's snapshot is found by: its requested branch or tag, and `main` for a base.

    A base is loaded by its dependants with `revision=None` (PEFT's `revision: null`), which is `main`:
    so `refs/main` of a base points at the locked commit even when it was locked by tag or commit.
    """
    if model.layout != "hf-cache":
        return []
    names = [model.requested] if model.requested != model.commit else []
    return [*names, "main"] if base and "main" not in names else names


def ref_file(model: LockedModel, snapshot: Path) -> Path | None:
    """`refs/<revision>`: how `from_pretrained(repo, revision=...)` finds the commit offline."""
    names = ref_names(model)
    return snapshot.parent.parent / "refs" / names[0] if names else None


def ref_problem(model: LockedModel, snapshot: Path, base: bool = False) -> str | None:
    """Why the model's refs do not lead to the locked commit (an online client may have moved one), or None."""
    for name in ref_names(model, base):
        try:
            found = (snapshot.parent.parent / "refs" / name).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return f"refs/{name} is missing"
        if found != model.commit:
            return f"refs/{name} points at {found[:7] or 'nothing'}, locked {model.commit[:7]}"
    return None
