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
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def is_snapshot(target: Path) -> bool:
    """`<cache>/models--org--name/snapshots/<commit>`: the target of an hf-cache model."""
    return (
        bool(_COMMIT.match(target.name))
        and target.parent.name == "snapshots"
        and bool(_REPO_FOLDER.match(target.parent.parent.name))
    )


def record_path(snapshot: Path) -> Path:
    return snapshot.parent.parent / RECORDS / f"{snapshot.name}.json"


def ref_file(model: LockedModel, snapshot: Path) -> Path | None:
    """`refs/<revision>`: how `from_pretrained(repo, revision=...)` finds the commit offline."""
    if model.layout != "hf-cache" or model.requested == model.commit:
        return None
    return snapshot.parent.parent / "refs" / model.requested


def ref_problem(model: LockedModel, snapshot: Path) -> str | None:
    """Why the model's ref does not lead to the locked commit (an online client may have moved it), or None."""
    ref = ref_file(model, snapshot)
    if ref is None:
        return None
    try:
        found = ref.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return f"refs/{model.requested} is missing"
    if found != model.commit:
        return f"refs/{model.requested} points at {found[:7] or 'nothing'}, locked {model.commit[:7]}"
    return None
