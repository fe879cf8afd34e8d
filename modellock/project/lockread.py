"""Reading `modellock.lock`: hostile input, validated field by field with `file:line` errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modellock.errors import ConfigError, LockTampered
from modellock.project import hubscan
from modellock.project.card import LockedCard, card_of, card_problem
from modellock.project.discover import LOCK_NAME
from modellock.project.edges import LockedEdge, edge_of, edge_problem
from modellock.project.lockfast import parse_canonical
from modellock.project.lockfile import (
    HEADER,
    VERSION,
    LockedFile,
    LockedModel,
    LockedSignature,
    Lockfile,
    render,
    toml_string,
)
from modellock.project.origins import HUGGINGFACE, S3, SOURCES, pin_problem, repo_problem
from modellock.project.paths import (
    REPO_TYPES,
    file_path_problem,
    install_path_problem,
    ref_problem,
    unsafe_reason,
    valid_model_name,
)
from modellock.project.policy import PICKLE_MODES, REMOTE_CODE_MODES, Policy
from modellock.project.tomlpos import find_line
from modellock.project.tomlread import bad_utf8, parse

_HEX40 = re.compile(r"^[0-9a-f]{40}\Z")
_HEX64 = re.compile(r"^[0-9a-f]{64}\Z")
_TAGGED = re.compile(r"^blake3:[0-9a-f]{64}\Z")
_FILE_REQUIRED = frozenset({"path", "size", "blake3", "sha256"})
_FILE_KEYS = _FILE_REQUIRED | {"format", "scan", "scanner", "hub-scan", "version-id", "etag"}
_SIGNATURE_KEYS = {
    "path": str, "size": int, "blake3": str, "sha256": str, "mode": str, "identity": str, "issuer": str, "key": str,
    "public-key": str, "log-index": int, "integrated-time": int, "trust-root": str, "covers": int,
    "root-digest": str,
}  # fmt: skip
_ROOT_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def _short(value: object) -> str:
    """A value for a message: hostile input can be kilobytes long."""
    text = repr(value)
    return text if len(text) <= 100 else text[:60] + "…" + text[-20:]


class _Reader:
    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.shapes_checked = False
        self.version = VERSION

    @property
    def _model_lines(self) -> list[int]:
        return [i for i, line in enumerate(self.text.splitlines(), 1) if line.strip() == "[[model]]"]

    def fail(self, message: str, model_index: int | None = None, needle: str | None = None) -> ConfigError:
        line = None
        if model_index is not None and model_index < len(self._model_lines):
            line = self._model_lines[model_index]
            if needle is not None:
                lines = self.text.splitlines()
                for number in range(line, len(lines) + 1):
                    if needle in lines[number - 1]:
                        line = number
                        break
        return ConfigError(message, file=self.file, line=line, hint="run `modellock lock` to regenerate it")

    def field(self, data: dict[str, Any], key: str, index: int, kind: type = str) -> Any:
        value = data.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise self.fail(f"model #{index + 1}: `{key}` is missing or not a {kind.__name__}", index, f"{key} =")
        return value

    def file_entry(self, entry: Any, name: str, index: int) -> LockedFile:
        if self.shapes_checked:  # the canonical reader's regex already fixed every type and digest shape
            reason = file_path_problem(entry["path"])
            if reason:
                where = toml_string(entry["path"])
                raise self.fail(f"model `{name}`: unsafe file path {_short(entry['path'])}: {reason}", index, where)
            return LockedFile(
                entry["path"], entry["size"], entry["blake3"], entry["sha256"],
                entry.get("format", ""), entry.get("scan", ""), entry.get("scanner", ""),
                self.hub_scan(entry, name, index), *self.pins(entry, name, index),
            )  # fmt: skip
        if not isinstance(entry, dict) or not (entry.keys() >= _FILE_REQUIRED and entry.keys() <= _FILE_KEYS):
            raise self.fail(
                f"model `{name}`: a file entry needs path, size, blake3, sha256 "
                "(and may have format, scan, scanner, hub-scan)",
                index,
                "{",
            )
        labels = [entry.get(k, "") for k in ("format", "scan", "scanner")]
        if not all(isinstance(v, str) for v in labels):
            raise self.fail(f"model `{name}`: format, scan and scanner must be strings", index, "{")
        path, size, b3, sha = entry["path"], entry["size"], entry["blake3"], entry["sha256"]
        needle = toml_string(path) if isinstance(path, str) else "{"
        reason = file_path_problem(path) if isinstance(path, str) else "not a string"
        if reason:
            raise self.fail(f"model `{name}`: unsafe file path {_short(path)}: {reason}", index, needle)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise self.fail(f"model `{name}`: file {path!r} has an invalid size", index, needle)
        if not (isinstance(b3, str) and _HEX64.match(b3) and isinstance(sha, str) and _HEX64.match(sha)):
            raise self.fail(f"model `{name}`: file {path!r} needs 64-hex `blake3` and `sha256` digests", index, needle)
        fmt, scan, scanner = labels
        return LockedFile(
            path, size, b3, sha, fmt, scan, scanner, self.hub_scan(entry, name, index), *self.pins(entry, name, index)
        )

    def pins(self, entry: dict[str, Any], name: str, index: int) -> tuple[str, str]:
        """A file's S3 `version-id` and `etag`, if any: only shapes an S3 store hands out."""
        version_id, etag = entry.get("version-id", ""), entry.get("etag", "")
        needle = toml_string(entry["path"]) if isinstance(entry.get("path"), str) else "{"
        if not isinstance(version_id, str) or not isinstance(etag, str):
            raise self.fail(f"model `{name}`: `version-id` and `etag` must be strings", index, needle)
        reason = pin_problem(version_id, etag)
        if reason:
            raise self.fail(f"model `{name}`: file {_short(entry.get('path'))}: {reason}", index, needle)
        return version_id, etag

    def hub_scan(self, entry: dict[str, Any], name: str, index: int) -> str:
        """A file's `hub-scan`, if any: only strings modellock writes (`project.hubscan`)."""
        raw = entry.get("hub-scan", "")
        if raw == "":
            return ""
        if not isinstance(raw, str) or hubscan.parse(raw) is None:
            needle = toml_string(entry["path"]) if isinstance(entry.get("path"), str) else "{"
            raise self.fail(
                f"model `{name}`: file {_short(entry.get('path'))}: `hub-scan` {_short(raw)} is not a Hub scan "
                f"(a status of {', '.join(hubscan.STATUSES)}, then scanner=status)",
                index,
                needle,
            )
        return raw

    def layout(self, data: dict[str, Any], name: str, index: int, source: str) -> str:
        layout = self.field(data, "layout", index)
        if layout not in ("dir", "hf-cache"):
            raise self.fail(f"model `{name}`: unknown layout {layout!r}", index, "layout =")
        if layout != "dir" and source != HUGGINGFACE:  # a Hugging Face cache names its folders after a Hub id
            raise self.fail(f"model `{name}`: a {source} model can only have layout `dir`", index, "layout =")
        return str(layout)

    def policy(self, data: dict[str, Any], name: str, index: int) -> Policy:
        raw = data.get("policy")
        if raw is None:
            return Policy()
        try:
            allow = raw["allow-files"]
            policy = Policy(str(raw["pickle"]), str(raw["remote-code"]), tuple(str(p) for p in allow))
        except (KeyError, TypeError):
            message = f"model `{name}`: `policy` needs pickle, remote-code and allow-files"
            raise self.fail(message, index, "policy =") from None
        if policy.pickle not in PICKLE_MODES or policy.remote_code not in REMOTE_CODE_MODES:
            raise self.fail(f"model `{name}`: unknown policy values", index, "policy =")
        return policy

    def signature(self, data: dict[str, Any], name: str, index: int) -> LockedSignature | None:
        raw = data.get("signature")
        if raw is None:
            return None
        where = f"model `{name}`: `signature`"
        if not isinstance(raw, dict) or not {"path", "size", "blake3", "sha256", "mode", "identity"} <= set(raw):
            raise self.fail(f"{where} needs path, size, blake3, sha256, mode and identity", index, "signature =")
        for key, value in raw.items():
            kind = _SIGNATURE_KEYS.get(key)
            if kind is None or not isinstance(value, kind) or isinstance(value, bool):
                raise self.fail(f"{where}: unknown or mistyped field `{key}`", index, "signature =")
        if raw["mode"] not in ("sigstore", "key", "certificate") or unsafe_reason(raw["path"]):
            raise self.fail(f"{where}: unknown mode or unsafe path", index, "signature =")
        if not (_HEX64.fullmatch(raw["blake3"]) and _HEX64.fullmatch(raw["sha256"])):  # `$` would allow a "\n"
            raise self.fail(f"{where}: blake3 and sha256 must be 64 hex digits", index, "signature =")
        if "root-digest" in raw and not _ROOT_DIGEST.fullmatch(raw["root-digest"]):
            raise self.fail(f"{where}: root-digest must be `sha256:` and 64 hex digits", index, "signature =")
        return LockedSignature(**{key.replace("-", "_"): value for key, value in raw.items()})

    def card(self, data: dict[str, Any], name: str, index: int) -> LockedCard | None:
        raw = data.get("card")
        if raw is None:
            return None
        reason = card_problem(raw)
        if reason:
            raise self.fail(f"model `{name}`: {reason}", index, "card =")
        return card_of(raw)

    def bases(self, data: dict[str, Any], name: str, index: int) -> tuple[LockedEdge, ...]:
        raw = data.get("bases")
        if raw is None:
            return ()
        if not isinstance(raw, list) or not raw:
            raise self.fail(f"model `{name}`: `bases` must be a non-empty list of edges", index, "bases =")
        for item in raw:
            reason = edge_problem(item)
            if reason:
                raise self.fail(f"model `{name}`: `bases`: {reason}", index, "bases =")
        edges = tuple(edge_of(item) for item in raw)
        if len({e.model for e in edges}) != len(edges) or any(e.model == name for e in edges):
            raise self.fail(f"model `{name}`: `bases` names a parent twice, or the model itself", index, "bases =")
        return edges

    def checked(self, data: dict[str, Any], key: str, index: int, problem: Callable[[str], str | None]) -> str:
        value: str = self.field(data, key, index)
        reason = problem(value)
        if reason:
            raise self.fail(f"model #{index + 1}: `{key}` {_short(value)} is refused: {reason}", index, f"{key} =")
        return value

    def model(self, data: Any, index: int) -> LockedModel:
        if not isinstance(data, dict):
            raise self.fail(f"model #{index + 1} is not a table", index)
        name = self.checked(data, "name", index, lambda v: None if valid_model_name(v) else "not a model name")
        commit = self.field(data, "commit", index)
        if not _HEX40.match(commit):
            raise self.fail(f"model `{name}`: `commit` must be a 40-hex lowercase commit id", index, "commit =")
        for key in ("fingerprint", "digest", *(("seal",) if self.version >= 2 else ())):
            if not _TAGGED.match(self.field(data, key, index)):
                raise self.fail(f"model `{name}`: `{key}` must look like blake3:<64 hex>", index, f"{key} =")
        source = self.checked(data, "source", index, lambda v: None if v in SOURCES else "unknown source")
        raw_files = self.field(data, "files", index, list)
        files = tuple(self.file_entry(entry, name, index) for entry in raw_files)
        if len({f.path for f in files}) != len(files):
            raise self.fail(f"model `{name}` lists the same file twice", index, "files =")
        if source != S3 and any(f.version_id or f.etag for f in files):
            raise self.fail(f"model `{name}`: only S3 files carry `version-id` or `etag`", index, "files =")
        return LockedModel(
            name=name,
            source=source,
            repo=self.checked(data, "repo", index, lambda v: repo_problem(source, v)),
            repo_type=self.checked(
                data, "repo-type", index, lambda v: None if v in REPO_TYPES else f"not one of {', '.join(REPO_TYPES)}"
            ),
            install_path=self.checked(data, "path", index, install_path_problem),
            layout=self.layout(data, name, index, source),
            policy=self.policy(data, name, index),
            signature=self.signature(data, name, index),
            card=self.card(data, name, index),
            bases=self.bases(data, name, index),
            requested=self.checked(data, "requested", index, ref_problem),
            commit=commit,
            fingerprint=data["fingerprint"],
            digest=data["digest"],
            files=files,
            seal=data.get("seal", ""),
        )

    def read(self, data: dict[str, Any] | None = None) -> Lockfile:
        self.shapes_checked = data is not None
        if data is None:
            try:
                data = parse(self.text, self.file)
            except ConfigError as exc:
                exc.hint = exc.hint or (
                    "modellock writes the lock: restore it (`git checkout -- modellock.lock`), "
                    "or remove it and run `modellock lock` to re-resolve every model"
                )
                raise
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ConfigError("the lock has no integer `version`", file=self.file, line=1)
        if version > VERSION:
            raise ConfigError(
                f"the lock has version {version}, this modellock reads version {VERSION}",
                file=self.file,
                line=find_line(self.text, (), "version"),
                hint="upgrade modellock to read this lock",
            )
        if version < 1:
            raise ConfigError(f"unknown lock version {version}", file=self.file)
        self.version = version
        revision = data.get("revision", 0)
        if not isinstance(revision, int) or isinstance(revision, bool):
            raise ConfigError(
                "the lock's `revision` must be an integer", file=self.file, line=find_line(self.text, (), "revision")
            )
        models_data = data.get("model", [])
        if not isinstance(models_data, list):
            raise ConfigError(
                "`model` must be an array of tables", file=self.file, line=find_line(self.text, (), "model")
            )
        models = [self.model(entry, i) for i, entry in enumerate(models_data)]
        if len({m.name for m in models}) != len(models):
            raise ConfigError("the lock lists a model twice", file=self.file)
        # A newer additive `revision` is accepted; we write back the one we know.
        return Lockfile(models=tuple(models), version=version, revision=revision)


@dataclass(frozen=True)
class ReadLock:
    """A lock as read, with what `lock --check` needs to know about its text."""

    lock: Lockfile
    canonical: bool
    """The text is exactly the serialisation of what was read (seals as recorded)."""
    unsealed: tuple[str, ...]
    """Models whose recorded seal is missing or is not the seal of their fields."""


def loads(text: str, file: str = LOCK_NAME) -> Lockfile:
    return loads_checked(text, file).lock


def loads_checked(text: str, file: str = LOCK_NAME) -> ReadLock:
    """Parse a lock and check its form and seals (no manifest, no network, no model bytes)."""
    reader = _Reader(text, file)
    fast = parse_canonical(text, HEADER)
    if fast is not None:
        try:
            lock = reader.read(fast)
        except ConfigError:
            lock = None
        if lock is not None:
            rendered, unsealed = render(lock, as_read=True)
            if rendered == text:
                return ReadLock(lock, True, unsealed)
    lock = reader.read()
    rendered, unsealed = render(lock, as_read=True)
    return ReadLock(lock, rendered == text, unsealed)


def _lock_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise bad_utf8(path, "the lock") from None


def read_lock(path: Path) -> Lockfile | None:
    """The lock at `path`, or None if there is none yet."""
    text = _lock_text(path)
    return None if text is None else loads(text, str(path))


def read_sealed_lock(path: Path) -> Lockfile | None:
    """The lock at `path` for installing or verifying: refused (exit 1) unless whole and sealed."""
    text = _lock_text(path)
    if text is None:
        return None
    read = loads_checked(text, str(path))
    if read.unsealed or not read.canonical:
        what = f"model {', '.join(f'`{n}`' for n in read.unsealed)}" if read.unsealed else "its text"
        raise LockTampered(
            f"{path}: the lock was changed outside modellock ({what} does not match its seal or canonical form)",
            hint="review the change (`git diff`), then run `modellock lock` to re-resolve and re-seal it",
        )
    return read.lock
