"""Edit the manifest: `init`, `add` and `remove`, keeping the user's comments and layout."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from modellock.errors import UsageError
from modellock.project.discover import MANIFEST_NAME
from modellock.project.lockfile import Lockfile, dumps
from modellock.project.lockread import read_lock
from modellock.project.manifest import load_manifest
from modellock.project.paths import valid_model_name, valid_repo_id
from modellock.store import atomic

STARTER = """\
# modellock.toml: the models this project needs. `modellock lock` pins them in modellock.lock.
# Every key is documented in docs/manifest.md.

# [settings]
# store = "~/.cache/modellock"          # content-addressed store (or MODELLOCK_CACHE_DIR)
# endpoint = "https://huggingface.co"   # Hub endpoint (or HF_ENDPOINT)

[models]
# Add models with `modellock add org/name`, or by hand:
# [models.tiny]
# repo = "org/name"
# revision = "main"                     # branch, tag or 40-hex commit
# include = ["*.safetensors", "*.json"]
# exclude = []
# path = "models/tiny"                  # where `modellock sync` installs it
"""


@dataclass(frozen=True)
class RepoSpec:
    """What a user typed after `modellock add`, understood."""

    repo: str
    revision: str | None
    repo_type: str
    source: str = "huggingface"


def parse_repo_spec(text: str) -> RepoSpec:
    """Accept `org/name[@rev]`, `hf://[datasets/]org/name[@rev]` and Hub URLs with `/tree/REV`;
    and a directory (`./dir`, `file://…`) or an S3 prefix (`s3://BUCKET/PREFIX/`)."""
    from modellock.ops.origin import is_origin, parse_origin

    if is_origin(text):
        source, repo = parse_origin(text)
        return RepoSpec(repo, None, "model", source)
    repo_type = "model"
    revision: str | None = None
    if text.startswith(("https://", "http://")):
        parts = [unquote(p) for p in urlsplit(text).path.strip("/").split("/") if p]
        if parts and parts[0] in ("datasets", "models"):
            repo_type = "dataset" if parts[0] == "datasets" else "model"
            parts = parts[1:]
        if len(parts) >= 4 and parts[2] in ("tree", "blob", "resolve"):
            revision = parts[3]
            inside = "/".join(parts[4:])
            repo = "/".join(parts[:2])
            if inside:
                # A URL of one file or folder: locking the whole repository instead would surprise.
                glob = inside if parts[2] != "tree" else f"{inside}/**"
                kind = "folder" if parts[2] == "tree" else "file"
                raise UsageError(
                    f"{text!r} is the URL of a {kind} in {repo}, not of the repository",
                    hint=f"to lock just that {kind}: modellock add {repo}@{revision} --include '{glob}'",
                )
            parts = parts[:2]
        body = "/".join(parts)
    else:
        body = text.removeprefix("hf://")
        for prefix, kind in (("datasets/", "dataset"), ("models/", "model")):
            if text.startswith("hf://") and body.startswith(prefix):
                body, repo_type = body[len(prefix) :], kind
        if "@" in body:
            body, revision = body.split("@", 1)
            if not revision:
                raise UsageError(f"{text!r}: nothing after `@`", hint="write org/name@REVISION")
    if not valid_repo_id(body):
        raise UsageError(
            f"{text!r} is not a Hugging Face repository",
            hint="use org/name, org/name@revision, hf://org/name or https://huggingface.co/org/name",
        )
    return RepoSpec(body, revision, repo_type)


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib")


def pickle_duplicates(paths: list[str]) -> tuple[list[str], list[str]]:
    """When safetensors weights exist, the pickle-format copies beside them: (exclude globs, files)."""
    if not any(p.endswith(".safetensors") for p in paths):
        return [], []
    files = sorted(p for p in paths if p.lower().endswith(PICKLE_SUFFIXES))
    suffixes = sorted({"*" + p[p.rindex(".") :].lower() for p in files})
    return suffixes, files


def default_name(repo: str) -> str:
    name = repo.rsplit("/", 1)[-1].lower()
    return re.sub(r"[^a-z0-9._-]", "-", name)


def init_manifest(directory: Path) -> Path:
    path = directory / MANIFEST_NAME
    if path.exists():
        raise UsageError(f"{path} already exists", hint="edit it, or add models with `modellock add`")
    path.write_text(STARTER, encoding="utf-8")
    return path


def _load_document(path: Path):  # type: ignore[no-untyped-def]
    import tomlkit

    load_manifest(path)  # validates first, with file:line errors
    return tomlkit.parse(path.read_text(encoding="utf-8"))


def add_model(
    manifest_path: Path,
    spec: RepoSpec,
    *,
    name: str | None = None,
    revision: str | None = None,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    replace: bool = False,
    layout: str | None = None,
    path: str | None = None,
    pickle: str | None = None,
    signature: dict[str, str] | None = None,
) -> str:
    """Add (or, with `replace`, rewrite) a `[models.NAME]` table; returns the name.

    The caller restores the file if locking fails.
    """
    import tomlkit

    doc = _load_document(manifest_path)
    name = name or default_name(spec.repo.rstrip("/"))
    if not valid_model_name(name):
        raise UsageError(f"model name {name!r} may only use letters, digits, `.`, `_` and `-`")
    models = doc.get("models")
    if models is None:
        models = tomlkit.table(is_super_table=True)
        doc["models"] = models
    if name in models and not replace:
        raise UsageError(f"model `{name}` is already in {manifest_path.name}", hint="choose another with --name")
    table = tomlkit.table()
    if spec.source == "local":
        from modellock.ops.origin import local_repo

        table["repo"] = local_repo(spec.repo, manifest_path.parent)
    else:
        table["repo"] = spec.repo
    if spec.source != "huggingface":
        table["source"] = spec.source
    rev = revision or spec.revision
    if rev:
        table["revision"] = rev
    if spec.repo_type != "model":
        table["repo-type"] = spec.repo_type
    if include:
        table["include"] = include
    if exclude:
        table["exclude"] = exclude
    if layout:
        table["layout"] = layout
    if path:
        table["path"] = path
    if pickle:
        table["pickle"] = pickle
    if signature:
        pin = tomlkit.inline_table()
        pin.update(signature)
        table["signature"] = pin
    models[name] = table
    text = tomlkit.dumps(doc)
    manifest_path.write_text(text, encoding="utf-8")
    load_manifest(manifest_path)  # the flags may have produced an entry the reader refuses
    return name


def remove_model(manifest_path: Path, name: str) -> bool:
    """Drop a model from the manifest and the lock; returns whether the lock changed."""
    import tomlkit

    doc = _load_document(manifest_path)
    models = doc.get("models")
    if models is None or name not in models:
        raise UsageError(f"model `{name}` is not in {manifest_path.name}")
    del models[name]
    manifest_path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    manifest = load_manifest(manifest_path)
    lock = read_lock(manifest.lock_path)
    if lock is None or lock.get(name) is None:
        return False
    return write_lock(manifest.lock_path, Lockfile(tuple(m for m in lock.models if m.name != name)))


def write_lock(path: Path, lock: Lockfile) -> bool:
    """Write the lock atomically; returns False (and writes nothing) when the bytes would not change."""
    text = dumps(Lockfile(models=lock.models))
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    atomic.write_text(path, text)
    return True


@contextlib.contextmanager
def restored_on_failure(manifest_path: Path, lock_path: Path) -> Iterator[None]:
    """Put the manifest and the lock back as they were if the body fails (`uv add`'s all or nothing)."""
    saved = [(path, path.read_bytes() if path.exists() else None) for path in (manifest_path, lock_path)]
    try:
        yield
    except BaseException:
        for path, old in saved:
            if old is None:
                path.unlink(missing_ok=True)
            elif not path.exists() or path.read_bytes() != old:
                path.write_bytes(old)
        raise
