"""What every BOM format says the same way: identifiers, URLs and the serial number of a locked model.

URLs name the source's public home (huggingface.co), never the endpoint or mirror a lock was made
through: a BOM states identity, and moving to a mirror must not change it.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from modellock.errors import ModellockError
from modellock.ops.export import ExportSource
from modellock.project.lockfile import LockedModel

HUB = "https://huggingface.co"


class ExportInvalid(ModellockError):
    """A BOM that fails its own schema: a bug in modellock, so exit 2 and no file."""

    def __init__(self, message: str) -> None:
        super().__init__(
            f"the export is not valid, nothing was written: {message}",
            hint="this is a bug in modellock; report it with the lock (its digests only, no secrets are in it)",
        )


def repo_url(m: LockedModel) -> str | None:
    """The model's public home: a Hub repository, an S3 prefix; none for a local directory (a path on
    one machine is nobody's address, and a BOM may travel)."""
    if m.source == "local":
        return None
    if m.source == "s3":
        return f"s3://{quote(m.repo)}"
    return repo_url_of(m.repo_type, m.repo)


def display_name(m: LockedModel) -> str:
    """What a BOM names the model: its Hub id, its S3 prefix, or (local) its name in the manifest."""
    return m.name if m.source == "local" else m.repo.rstrip("/")


def repo_url_of(repo_type: str, repo: str) -> str:
    prefix = "" if repo_type == "model" else f"/{repo_type}s"
    return f"{HUB}{prefix}/{repo}"


def file_url(m: LockedModel, path: str) -> str | None:
    """The file's bytes at the locked commit, as the Hub serves them (an S3 object's key; none for local)."""
    home = repo_url(m)
    if home is None or m.source == "s3":
        return None if home is None else f"{home}{quote(path)}"
    return f"{home}/resolve/{m.commit}/{quote(path)}"


def tree_url(m: LockedModel) -> str | None:
    home = repo_url(m)
    return home if home is None or m.source != "huggingface" else f"{home}/tree/{m.commit}"


def card_url(m: LockedModel) -> str | None:
    return f"{repo_url(m)}/blob/{m.commit}/README.md" if m.source == "huggingface" else None


def purl(m: LockedModel) -> str | None:
    """`pkg:huggingface/<ns>/<name>@<commit>` (the purl spec's huggingface type: version is the commit).

    The type covers models only; datasets get none rather than an invented one.
    """
    return purl_of(m.repo_type, m.repo, m.commit) if m.source == "huggingface" else None


def purl_of(repo_type: str, repo: str, commit: str) -> str | None:
    if repo_type != "model":
        return None
    namespace, _, name = repo.rpartition("/")
    parts = [quote(p, safe="") for p in (namespace, name) if p]
    return f"pkg:huggingface/{'/'.join(parts)}@{commit}"


def bom_ref(m: LockedModel) -> str:
    return f"{m.source}:{m.repo_type}:{display_name(m)}@{m.commit}#{m.name}"


def serial_uuid(source: ExportSource) -> uuid.UUID:
    """Derived from the lock's digest, so one lock always has one serial number."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"modellock:{source.lock_digest}")


def timestamp(source: ExportSource) -> str | None:
    return None if source.created is None else source.created.strftime("%Y-%m-%dT%H:%M:%SZ")
