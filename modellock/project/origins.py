"""Where a model's bytes come from, by source: what its `repo` may say and the pins a file may carry.

A Hub model is `org/name`; a local model a directory (relative to the project, or absolute); an
S3 model `BUCKET[/PREFIX/]`. The lock is hostile input: each form is checked on read, and an
object key only ever becomes a path through the same rules as a Hub path (`paths.unsafe_reason`).
"""

from __future__ import annotations

import re

from modellock.project.paths import unsafe_reason, valid_repo_id

HUGGINGFACE, LOCAL, S3 = "huggingface", "local", "s3"
SOURCES = (HUGGINGFACE, LOCAL, S3)
UNVERSIONED = "latest"
"""The `requested` of a local or S3 model: what the directory or prefix holds when it is locked."""

# DNS-style bucket names (S3's rules since 2018; MinIO and R2 enforce them too): no `/`, no `..`.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
# S3 version ids are opaque: AWS uses base64-ish text, MinIO and moto UUIDs. Nothing else is written.
_VERSION_ID = re.compile(r"^[A-Za-z0-9._+/=-]{1,1024}\Z")
# ETags without their quotes: hex (MD5), hex-N (multipart), or another store's opaque token.
_ETAG = re.compile(r"^[A-Za-z0-9._+/=:-]{1,256}\Z")
_MAX_LOCAL = 4096


def split_s3(repo: str) -> tuple[str, str]:
    """`BUCKET/PREFIX/` as (bucket, prefix); the prefix is empty or ends with `/`."""
    bucket, _, prefix = repo.partition("/")
    return bucket, prefix


def s3_problem(repo: str) -> str | None:
    """Why `BUCKET/PREFIX/` cannot name objects to lock (None if it can)."""
    bucket, prefix = split_s3(repo)
    if not _BUCKET.match(bucket) or ".." in bucket:
        return f"{bucket!r} is not an S3 bucket name (3-63 of a-z, 0-9, `.`, `-`)"
    if prefix and not prefix.endswith("/"):
        return f"the prefix {prefix!r} must end with `/` (a folder of objects)"
    if prefix:
        reason = unsafe_reason(prefix[:-1])
        if reason:
            return f"the prefix {prefix!r} is not a plain folder path: {reason}"
    return None


def local_problem(path: str) -> str | None:
    """Why `path` cannot name a local model directory (where it leads is the source's business)."""
    if not path.strip():
        return "the path is empty"
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in path):
        return "the path contains a control character"
    if "\\" in path:
        return "the path contains a backslash (write `/`)"
    if len(path) > _MAX_LOCAL:
        return "the path is too long"
    return None


def repo_problem(source: str, repo: str) -> str | None:
    """Why `repo` cannot be a model's origin at `source`, or None."""
    if source == HUGGINGFACE:
        return None if valid_repo_id(repo) else "not a Hugging Face repository id"
    if source == LOCAL:
        return local_problem(repo)
    if source == S3:
        return s3_problem(repo)
    return f"unknown source {source!r} (known: {', '.join(SOURCES)})"


def pin_problem(version_id: str, etag: str) -> str | None:
    """Why a file's recorded S3 pins are not ones modellock writes (empty means none)."""
    if version_id and not _VERSION_ID.match(version_id):
        return f"`version-id` {version_id[:40]!r} is not an S3 version id"
    if etag and not _ETAG.match(etag):
        return f"`etag` {etag[:40]!r} is not an ETag"
    return None


def registry_path(source: str, repo: str, repo_type: str, name: str) -> tuple[str, str]:
    """(repo, repo type) under which `push` names a model in an OCI registry: a Hub id as it is; a local
    model by its name (a path on one machine means nothing on another); an S3 one by bucket and prefix."""
    if source == LOCAL:
        return f"local/{name}", "model"
    if source == S3:
        bucket, prefix = split_s3(repo)
        return "/".join(["s3", bucket, *prefix.strip("/").split("/")]).rstrip("/"), "model"
    return repo, repo_type


def source_url(source: str, repo: str, repo_type: str, hub: str) -> str | None:
    """Where a pushed model came from, for its ModelPack descriptor; a local path is nobody else's business."""
    if source == LOCAL:
        return None
    if source == S3:
        return f"s3://{repo}"
    return f"{hub}/{'datasets/' if repo_type == 'dataset' else ''}{repo}"
