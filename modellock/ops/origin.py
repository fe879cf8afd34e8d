"""`modellock add ./dir`, `file://…` and `s3://BUCKET/PREFIX/`: what the user typed, as a manifest origin."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from modellock.errors import UsageError
from modellock.project.origins import LOCAL, S3, local_problem, s3_problem
from modellock.project.paths import valid_repo_id

_PATH_PREFIXES = ("./", "../", "/", "~")


def is_origin(text: str) -> bool:
    """Is this a directory or a bucket rather than a Hub repository?"""
    if text.startswith(("file://", "s3://", *_PATH_PREFIXES)) or text in (".", ".."):
        return True
    # `org/name` stays a Hub id even where such a folder exists; anything else that is a folder is one.
    return not valid_repo_id(text) and os.path.isdir(text)


def parse_origin(text: str) -> tuple[str, str]:
    """(source, repo): `local` and an absolute directory, or `s3` and `BUCKET/PREFIX/`."""
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://") :].partition("/")
        prefix = prefix.strip("/")
        repo = f"{bucket}/{prefix}/" if prefix else bucket
        problem = s3_problem(repo)
        if problem:
            raise UsageError(f"{text!r} cannot be locked: {problem}", hint="write s3://BUCKET/PREFIX/")
        return S3, repo
    if text.startswith("file://"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise UsageError(f"{text!r} names another host", hint="a file:// URL names a directory on this machine")
        text = unquote(parts.path)
    path = Path(os.path.normpath(Path(text).expanduser().absolute()))
    problem = local_problem(path.as_posix())
    if problem:
        raise UsageError(f"{text!r} cannot be a model directory: {problem}")
    if not path.is_dir():
        raise UsageError(f"{text} is not a directory", hint="`modellock add` takes the directory holding a model")
    return LOCAL, path.as_posix()


def local_repo(path: str, project_dir: Path) -> str:
    """How the manifest names a directory: relative to the project when inside it, so the project can move."""
    absolute = Path(os.path.normpath(Path(project_dir).absolute()))
    try:
        return Path(path).relative_to(absolute).as_posix() or "."
    except ValueError:
        return path
