"""A deploy script: install exactly the locked models, prove every byte, and load one offline.

    python deploy.py [--project DIR] [--registry oci://HOST/NAMESPACE] MODEL

It imports only `modellock`'s public names (docs/api.md). Exit codes follow modellock's: 0 ok,
1 a check failed (stale lock, wrong bytes, refused content), 2 usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from modellock import IntegrityError, ModellockError, Project, StaleLock


def deploy(project_dir: str | None, model: str, registry: str | None) -> Path:
    """Check the lock, install it (never re-resolving), verify it; return the directory to load from."""
    project = Project.open(project_dir)
    checked = project.check()  # offline: the lock is sealed and matches the manifest
    if not checked.ok:
        raise StaleLock(
            "the lock does not match the manifest",
            hint="run `modellock lock` and commit the result",
            problems=[(p.model, p.message) for p in checked.problems],
        )
    synced = project.sync(registry=registry)  # locked by default: a stale lock raises, nothing is re-resolved
    for change in synced.installed:
        print(f"installed {change.name}@{change.commit[:7]} into {change.target}", file=sys.stderr)
    report = project.verify()  # re-hash every installed file against the lock
    if not report.ok:
        bad = next(m for m in report.models if not m.ok)
        raise IntegrityError(
            f"{bad.name}: the installed files differ from the lock",
            model=bad.name,
            path=(bad.modified or bad.missing or bad.extra or ("",))[0],
        )
    return project.path(model)


def load(path: Path) -> list[int]:
    """Load the model and its tokenizer with transformers, with the network off, and run it once."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # anything not on disk is an error, not a download
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True)
    inputs = tokenizer("hello locked world", return_tensors="pt")
    hidden = model(**inputs).last_hidden_state
    return [int(n) for n in hidden.shape]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("--project", default=None)
    parser.add_argument("--registry", default=None)
    args = parser.parse_args(argv)
    try:
        path = deploy(args.project, args.model, args.registry)
    except ModellockError as exc:  # every failure is typed, with its facts as data
        failure = {"ok": False, "error": type(exc).__name__, "message": exc.message, "hint": exc.hint}
        print(json.dumps({**failure, "exit_code": exc.exit_code, "details": exc.facts()}))
        return exc.exit_code
    shape = load(path)
    print(json.dumps({"ok": True, "path": str(path), "output_shape": shape}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
