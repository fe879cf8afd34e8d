"""The guard inside an application's process: a locked repository id resolves only to its locked tree.

This module imports nothing from modellock and only the standard library at import time, because
`run` may start a Python whose environment does not hold modellock: `_site/sitecustomize.py`
then loads this file by its path. huggingface_hub is imported only when the guard is installed.

The hooks sit where every loader's download passes, looked up by huggingface_hub as module globals at
call time: `file_download._hf_hub_download_to_cache_dir` / `_hf_hub_download_to_local_dir` (behind every
`hf_hub_download`, however it was imported), `snapshot_download` and `try_to_load_from_cache` (which
transformers, diffusers and PEFT call directly). For a locked repository the guard answers from the
installed tree itself and never lets huggingface_hub reach the network; `sync` is the only way bytes arrive.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ENV_VAR = "MODELLOCK_GUARD"
"""Set by `modellock run`: the guard's table as JSON (the locked repositories and where they are installed)."""

DEFAULT_REVISIONS = (None, "main")
"""What a caller means when it names no revision: huggingface_hub fills in `main` before the hooks see it."""


class LockGuardError(Exception):
    """A repository or revision the lock does not hold. Not an OSError: loaders re-raise it unchanged
    (transformers turns OSError and ValueError into its own "not a valid model identifier" text)."""


@dataclass(frozen=True)
class Entry:
    """One locked model as the guard needs it."""

    name: str
    repo_type: str
    repo: str
    commit: str
    requested: str
    layout: str
    """`hf-cache` or `dir`."""
    root: str
    """hf-cache: the cache directory (holding `models--org--name`); dir: the model's own directory."""

    @property
    def tree(self) -> str:
        """The directory holding exactly the locked files."""
        if self.layout == "hf-cache":
            folder = f"{self.repo_type}s--" + self.repo.replace("/", "--")
            return os.path.join(self.root, folder, "snapshots", self.commit)
        return self.root


_INLINE = 16 * 1024
_PACKED = "zlib:"
"""A large table is compressed: one environment string may hold at most 128 KiB on Linux (MAX_ARG_STRLEN);
entries repeat their keys and cache paths, so a few thousand models fit."""


@dataclass(frozen=True)
class Table:
    lock: str
    """The lock file the entries come from, named in every refusal."""
    entries: tuple[Entry, ...]
    unlocked: tuple[str, ...] = ()
    """`[settings] unlocked-repos`: glob patterns of repository ids the guard lets through untouched."""

    def dumps(self) -> str:
        data = {"lock": self.lock, "unlocked": list(self.unlocked), "entries": [e.__dict__ for e in self.entries]}
        text = json.dumps(data, separators=(",", ":"), sort_keys=True)
        if len(text) <= _INLINE:
            return text
        import base64
        import zlib

        return _PACKED + base64.b64encode(zlib.compress(text.encode(), 9)).decode()

    @classmethod
    def loads(cls, text: str) -> Table:
        if text.startswith(_PACKED):
            import base64
            import zlib

            text = zlib.decompress(base64.b64decode(text[len(_PACKED) :], validate=True)).decode()
        data = json.loads(text)
        entries = tuple(Entry(**{k: str(v) for k, v in e.items()}) for e in data["entries"])
        return cls(str(data["lock"]), entries, tuple(str(p) for p in data.get("unlocked", ())))


def _revision_text(revision: Any) -> str | None:
    # huggingface_hub's ResolvedRevision carries the commit a branch was resolved to.
    resolved = getattr(revision, "resolved", None)
    return str(resolved) if resolved is not None else (None if revision is None else str(revision))


def resolve(table: Table, repo_id: str, repo_type: str | None, revision: Any) -> Entry | None:
    """The locked entry a request resolves to; None for a repository `unlocked-repos` lets through.

    Raises LockGuardError for a repository the lock does not hold, or a revision other than the locked
    one (its commit, the branch or tag it was locked from, or no revision at all).
    """
    kind = repo_type or "model"
    wanted = _revision_text(revision)
    candidates = [e for e in table.entries if e.repo == repo_id and e.repo_type == kind]
    if not candidates:
        if any(fnmatch.fnmatchcase(repo_id, pattern) for pattern in table.unlocked):
            return None
        raise LockGuardError(
            f"modellock guard: {kind} repository {repo_id!r} is not in the lock {table.lock}; "
            f'add it (`modellock add {repo_id}` or [models.NAME] repo = "{repo_id}" in modellock.toml, then '
            f"`modellock lock` and `modellock sync`), or allow it unlocked with [settings] unlocked-repos"
        )
    exact = [e for e in candidates if wanted in (e.commit, e.requested)]
    if len(exact) == 1 or (exact and len({e.commit for e in exact}) == 1):
        return exact[0]
    if wanted in DEFAULT_REVISIONS and len({e.commit for e in candidates}) == 1:
        return candidates[0]
    locked = ", ".join(f"{e.name} at {e.requested} ({e.commit[:12]})" for e in candidates)
    if wanted in DEFAULT_REVISIONS:
        why = f"several revisions of {repo_id!r} are locked ({locked}); pass revision= one of them"
    else:
        why = f"revision {wanted!r} of {repo_id!r} is not the locked one ({locked})"
    raise LockGuardError(
        f"modellock guard: {why} in the lock {table.lock}; to use another revision, change the model's "
        "`revision` in modellock.toml and run `modellock lock` and `modellock sync`"
    )


def locked_file(entry: Entry, filename: str) -> str | None:
    """The installed path of `filename` in the entry's tree, or None if the lock does not hold it."""
    parts = filename.replace("\\", "/").split("/")
    if not filename or filename.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return None  # a name that could leave the tree is never a locked file
    path = os.path.join(entry.tree, *parts)
    return path if os.path.isfile(path) else None


_MARKER = ".modellock-install.json"
"""modellock's install record inside a `dir` tree (store/installed.py): not one of the model's files."""


def tree_files(entry: Entry) -> list[str]:
    """The model's files in its installed tree (relative, `/`-separated)."""
    found = []
    for dirpath, _, names in os.walk(entry.tree):
        rel = os.path.relpath(dirpath, entry.tree)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        found += [prefix + n for n in names if prefix + n != _MARKER]
    return sorted(found)


def copy_out(entry: Entry, filename: str, local_dir: str) -> str:
    """The locked file copied into `local_dir` (what `local_dir=` asks for), replacing whatever was there:
    huggingface_hub would return a file already in `local_dir` unchecked."""
    import shutil
    import tempfile

    source = locked_file(entry, filename)
    if source is None:
        raise _not_found(entry, filename)
    target = os.path.join(local_dir, *filename.split("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".modellock-")
    os.close(handle)
    try:
        shutil.copyfile(source, temp)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return target


def _patterns(value: Any) -> list[str]:
    """`allow_patterns`/`ignore_patterns` as huggingface_hub reads them: a string or a list; `dir/` means `dir/*`."""
    found = [value] if isinstance(value, str) else list(value or ())
    return [p + "*" if p.endswith("/") else p for p in found]


def _matches(filename: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(filename, p) for p in patterns)


def _not_found(entry: Entry, filename: str) -> Exception:
    """What huggingface_hub raises offline for a file it does not have: loaders treat it as an optional file
    that is absent (transformers probes for tokenizer files this way)."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    return LocalEntryNotFoundError(
        f"modellock guard: {filename!r} is not a file of {entry.repo!r} at the locked commit {entry.commit[:12]} "
        f"(model {entry.name!r} in the lock)"
    )


_installed: dict[str, Any] = {}
"""The originals, kept so the guard installs once and `uninstall` (tests) restores them."""


def _wrappers(table: Table, originals: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    def to_cache_dir(**kwargs: Any) -> Any:
        entry = resolve(table, kwargs["repo_id"], kwargs.get("repo_type"), kwargs.get("revision"))
        if entry is None:
            return originals["to_cache_dir"](**kwargs)
        path = locked_file(entry, kwargs["filename"])
        if path is None:
            raise _not_found(entry, kwargs["filename"])
        if kwargs.get("dry_run"):
            raise LockGuardError("modellock guard: dry_run of a locked repository: nothing would be downloaded")
        return path

    def to_local_dir(**kwargs: Any) -> Any:
        entry = resolve(table, kwargs["repo_id"], kwargs.get("repo_type"), kwargs.get("revision"))
        if entry is None:
            return originals["to_local_dir"](**kwargs)
        if kwargs.get("dry_run"):
            raise LockGuardError("modellock guard: dry_run of a locked repository: nothing would be downloaded")
        return copy_out(entry, kwargs["filename"], kwargs["local_dir"])

    def snapshot_download(repo_id: str, *args: Any, **kwargs: Any) -> Any:
        entry = resolve(table, repo_id, kwargs.get("repo_type"), kwargs.get("revision"))
        if entry is None:
            return originals["snapshot_download"](repo_id, *args, **kwargs)
        if kwargs.get("dry_run"):
            raise LockGuardError("modellock guard: dry_run of a locked repository: nothing would be downloaded")
        local_dir = kwargs.get("local_dir")
        if local_dir is None:
            return entry.tree
        allow, ignore = _patterns(kwargs.get("allow_patterns")), _patterns(kwargs.get("ignore_patterns"))
        for filename in tree_files(entry):
            if (allow and not _matches(filename, allow)) or _matches(filename, ignore):
                continue
            copy_out(entry, filename, str(local_dir))
        return str(local_dir)

    def try_to_load_from_cache(repo_id: str, filename: str, *args: Any, **kwargs: Any) -> Any:
        names = ("cache_dir", "revision", "repo_type")
        given = {**dict(zip(names, args, strict=False)), **kwargs}
        entry = resolve(table, repo_id, given.get("repo_type"), given.get("revision"))
        if entry is None:
            return originals["try_to_load_from_cache"](repo_id, filename, *args, **kwargs)
        from huggingface_hub.file_download import _CACHED_NO_EXIST

        return locked_file(entry, filename) or _CACHED_NO_EXIST

    return {
        "to_cache_dir": to_cache_dir,
        "to_local_dir": to_local_dir,
        "snapshot_download": snapshot_download,
        "try_to_load_from_cache": try_to_load_from_cache,
    }


_PLACES = {
    # key: (module, attribute)
    "to_cache_dir": ("huggingface_hub.file_download", "_hf_hub_download_to_cache_dir"),
    "to_local_dir": ("huggingface_hub.file_download", "_hf_hub_download_to_local_dir"),
    "snapshot_download": ("huggingface_hub._snapshot_download", "snapshot_download"),
    "try_to_load_from_cache": ("huggingface_hub.file_download", "try_to_load_from_cache"),
}


def install(table: Table) -> bool:
    """Put the hooks in place (once per process); False where huggingface_hub is not installed."""
    if _installed:
        raise LockGuardError("modellock guard: already enabled in this process")
    import importlib

    try:
        modules = {key: importlib.import_module(module) for key, (module, _) in _PLACES.items()}
    except ImportError:
        return False
    missing = [f"{module}.{attr}" for key, (module, attr) in _PLACES.items() if not hasattr(modules[key], attr)]
    if missing:  # fail closed: a guard that hooks half the paths would let the other half through
        version = getattr(sys.modules.get("huggingface_hub"), "__version__", "?")
        raise LockGuardError(
            f"modellock guard: huggingface_hub {version} has no {', '.join(missing)}; the guard cannot hold "
            "with this version (modellock is tested with huggingface_hub 2.x)"
        )
    originals = {key: getattr(modules[key], attr) for key, (_, attr) in _PLACES.items()}
    wrappers = _wrappers(table, originals)
    # Loaders imported before the guard hold their own references (`from huggingface_hub import
    # snapshot_download`): every module's copy of an original is replaced, so the order of imports
    # does not matter.
    _swap(originals, wrappers)
    _installed.update(originals=originals, wrappers=wrappers)
    return True


def uninstall() -> None:
    """Restore huggingface_hub (for tests: a guard is meant to last as long as its process)."""
    if _installed:
        _swap(_installed["wrappers"], _installed["originals"])
        _installed.clear()


def _swap(old: Mapping[str, Callable[..., Any]], new: Mapping[str, Callable[..., Any]]) -> None:
    # By identity: the objects in `old` are alive (held by the caller), so their ids are unique.
    replace = {id(old[key]): new[key] for key in old}
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for attr, value in list(namespace.items()):
            if id(value) in replace:
                namespace[attr] = replace[id(value)]


class _WhenImported:
    """A meta-path finder that installs the guard right after `huggingface_hub` is first imported.

    So a process under `run` that never loads a model pays nothing for huggingface_hub's import.
    """

    def __init__(self, table: Table) -> None:
        self.table = table

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "huggingface_hub":
            return None
        import importlib.machinery

        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        table = self.table
        execute = loader.exec_module

        def exec_module(module: Any) -> None:
            execute(module)
            install(table)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install_when_imported(table: Table) -> None:
    """Install now if huggingface_hub is loaded, else as soon as something imports it."""
    if "huggingface_hub" in sys.modules:
        install(table)
    else:
        sys.meta_path.insert(0, _WhenImported(table))


def install_from_environment(environ: Mapping[str, str] = os.environ) -> bool:
    """`sitecustomize`'s entry: arm the guard `run` described in $MODELLOCK_GUARD, if it did."""
    text = environ.get(ENV_VAR)
    if not text:
        return False
    install_when_imported(Table.loads(text))
    return True


__all__: Sequence[str] = ["ENV_VAR", "Entry", "LockGuardError", "Table", "install", "resolve", "uninstall"]
