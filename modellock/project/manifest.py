"""`modellock.toml`: the models a project declares (intent), validated with file:line errors."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import blake3

from modellock.errors import ConfigError
from modellock.project.discover import LOCK_NAME
from modellock.project.edges import BASES_MODES
from modellock.project.origins import HUGGINGFACE, SOURCES, UNVERSIONED, repo_problem
from modellock.project.paths import (
    REPO_TYPES,
    Claim,
    claims_problem,
    install_path_problem,
    ref_problem,
    unsafe_reason,
    valid_model_name,
    valid_repo_id,
)
from modellock.project.policy import DEFAULT_POLICY, PICKLE_MODES, REMOTE_CODE_MODES, Policy
from modellock.project.tomlpos import find_line
from modellock.project.tomlread import bad_utf8, parse

_TOP_KEYS = ("models", "settings", "policy")
_POLICY_KEYS = ("pickle", "remote-code", "allow-files")
_SIGNATURE_KEYS = ("path", "identity", "issuer", "public-key", "certificate-chain")
_SETTINGS_KEYS = ("store", "endpoint", "link-mode", "trusted-root", "registry", "unlocked-repos", "s3-endpoint")
# `org/name` or a glob over it (`org/*`): what the guard lets through without a lock entry.
_REPO_PATTERN = re.compile(r"^[A-Za-z0-9_.*?\[\]-]+/[A-Za-z0-9_.*?\[\]-]+\Z")
LINK_MODES = ("reflink", "hardlink", "copy")
_MODEL_KEYS = (
    "repo", "source", "revision", "repo-type", "include", "exclude", "path", "layout", "signature", "bases",
    "hub-scan-allow",
    *_POLICY_KEYS,
)  # fmt: skip
LAYOUTS = ("dir", "hf-cache")
HF_CACHE_DEFAULT_PATH = "models/hf-cache"


@dataclass(frozen=True)
class SignatureSpec:
    """`signature = "path"` or `[models.NAME.signature]`: where the OMS signature is and who must sign."""

    path: str | None = None
    """Path of the bundle in the repository; default `model.sig` at the root."""
    identity: str | None = None
    issuer: str | None = None
    public_key: str | None = None
    """PEM public key file (key mode), relative to the manifest."""
    certificate_chain: str | None = None
    """PEM root certificates (certificate mode), relative to the manifest."""

    @property
    def mode(self) -> str:
        return "key" if self.public_key else "certificate" if self.certificate_chain else "sigstore"

    def as_dict(self) -> dict[str, str]:
        pairs = {
            "path": self.path,
            "identity": self.identity,
            "issuer": self.issuer,
            "public-key": self.public_key,
            "certificate-chain": self.certificate_chain,
        }
        return {k: v for k, v in pairs.items() if v is not None}


@dataclass(frozen=True)
class ModelSpec:
    """One `[models.NAME]` entry, with defaults filled in."""

    name: str
    repo: str
    revision: str = "main"
    repo_type: str = "model"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    install_path: str = ""
    """`path`: where `sync` installs the model."""
    layout: str = "dir"
    policy: Policy = DEFAULT_POLICY
    signature: SignatureSpec | None = None
    require_signature: bool = False
    source: str = "huggingface"
    bases: str | None = None
    """`bases`: require, warn or ignore declared parents; None is the default (require for adapters, else warn)."""
    hub_scan_allow: tuple[str, ...] = ()
    """`hub-scan-allow`: repository paths `lock` accepts although the Hub's scan flags them unsafe or suspicious."""

    def bases_mode(self, relation: str) -> str:
        """What an unlocked parent of this relation does: stop `lock` (require), warn, or nothing."""
        return self.bases or ("require" if relation == "adapter" else "warn")

    def claim(self) -> Claim:
        shared = (self.repo_type, self.repo, self.revision) if self.layout == "hf-cache" else None
        return Claim(self.name, self.install_path, shared)

    def fingerprint(self) -> str:
        """Digest of every input that decides what the lock holds for this model."""
        inputs: dict[str, object] = {
            "source": self.source,
            "repo": self.repo,
            "repo-type": self.repo_type,
            "revision": self.revision,
            "include": sorted(set(self.include)),
            "exclude": sorted(set(self.exclude)),
            "path": self.install_path,
        }
        # Absent when default, so fingerprints of entries that do not use them stay valid.
        if self.layout != "dir":
            inputs["layout"] = self.layout
        if not self.policy.is_default():
            inputs["policy"] = self.policy.as_dict()
        if self.signature is not None:
            inputs["signature"] = self.signature.as_dict()
        if self.require_signature:
            inputs["require-signature"] = True
        if self.bases is not None:
            inputs["bases"] = self.bases
        if self.hub_scan_allow:
            inputs["hub-scan-allow"] = sorted(set(self.hub_scan_allow))
        canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return "blake3:" + blake3.blake3(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Settings:
    """`[settings]`: where the store lives and which Hub endpoint to talk to."""

    store: str | None = None
    endpoint: str | None = None
    link_mode: str | None = None
    trusted_root: str | None = None
    """A Sigstore trusted_root.json (private instance, air-gapped machine), relative to the manifest."""
    registry: str | None = None
    """`oci://HOST/NAMESPACE`: where `sync` looks for locked models before the Hub (docs/fleet.md)."""
    s3_endpoint: str | None = None
    """An S3-compatible endpoint URL (MinIO, R2, Ceph) for `s3` models, where AWS's own settings name none."""
    unlocked_repos: tuple[str, ...] = ()
    """Repository ids (globs) the team chose not to lock: the guard lets them through (docs/runtime.md)."""


@dataclass(frozen=True)
class Manifest:
    """A parsed `modellock.toml`."""

    path: Path
    models: Mapping[str, ModelSpec] = field(default_factory=dict)
    settings: Settings = Settings()

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(LOCK_NAME)


class _Reader:
    """Validates one manifest, raising ConfigError with the line of the offending key."""

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file

    def fail(self, table: tuple[str, ...], key: str | None, message: str, hint: str | None = None) -> ConfigError:
        line = find_line(self.text, table, key)
        return ConfigError(message, file=self.file, line=line, hint=hint)

    def check_keys(self, table: tuple[str, ...], data: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
        where = f"[{'.'.join(table)}]" if table else "the top level"
        for key in data:
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean `{close[0]}`?" if close else f"known keys: {', '.join(allowed)}"
            raise self.fail(table, key, f"unknown key `{key}` in {where}", hint)

    def string(self, table: tuple[str, ...], data: Mapping[str, Any], key: str) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(table, key, f"`{key}` must be a non-empty string, got {_describe(value)}")
        return value

    def strings(self, table: tuple[str, ...], data: Mapping[str, Any], key: str, what: str) -> list[str]:
        """A list of non-empty strings (`what` names them in the message for a lone string)."""
        value = data.get(key, [])
        if isinstance(value, str):
            raise self.fail(table, key, f"`{key}` must be a list of {what}", f'write {key} = ["{value}"]')
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(table, key, f"`{key}` must be a list of non-empty strings, got {_describe(value)}")
        return value

    def globs(self, table: tuple[str, ...], data: Mapping[str, Any], key: str) -> tuple[str, ...]:
        value = self.strings(table, data, key, "glob patterns")
        for pattern in value:
            if "\\" in pattern or pattern.startswith("/") or ".." in pattern.split("/"):
                raise self.fail(table, key, f"glob {pattern!r} in `{key}` must be a relative `/`-separated pattern")
        return tuple(value)

    def file_paths(self, table: tuple[str, ...], data: Mapping[str, Any], key: str) -> tuple[str, ...]:
        """A list of exact repository paths (not globs: an allowance names the file it excuses)."""
        value = self.strings(table, data, key, "file paths")
        for path in value:
            problem = unsafe_reason(path)
            if problem:
                raise self.fail(table, key, f"`{key}`: {path!r} is not a repository file path: {problem}")
        return tuple(value)

    def policy(self, table: tuple[str, ...], data: Mapping[str, Any], base: Policy) -> Policy:
        pickle = self.string(table, data, "pickle") or base.pickle
        if pickle not in PICKLE_MODES:
            raise self.fail(table, "pickle", f"`pickle` must be one of {', '.join(PICKLE_MODES)}, got {pickle!r}")
        remote = self.string(table, data, "remote-code") or base.remote_code
        if remote not in REMOTE_CODE_MODES:
            raise self.fail(
                table, "remote-code", f"`remote-code` must be one of {', '.join(REMOTE_CODE_MODES)}, got {remote!r}"
            )
        allow = self.globs(table, data, "allow-files") if "allow-files" in data else base.allow_files
        return Policy(pickle=pickle, remote_code=remote, allow_files=allow)

    def signature(self, table: tuple[str, ...], data: Mapping[str, Any]) -> SignatureSpec | None:
        raw = data.get("signature")
        if raw is None:
            return None
        if isinstance(raw, str):
            raw = {"path": raw}
        if not isinstance(raw, dict):
            raise self.fail(table, "signature", "`signature` must be a path or a table")
        sig_table = (*table, "signature")
        self.check_keys(sig_table, raw, _SIGNATURE_KEYS)
        values = {key: self.string(sig_table, raw, key) for key in _SIGNATURE_KEYS}
        path = values["path"]
        if path is not None and unsafe_reason(path):
            raise self.fail(sig_table, "path", f"signature path {path!r} must be a plain relative path")
        if (values["identity"] is None) != (values["issuer"] is None):
            raise self.fail(
                sig_table, None, "`identity` and `issuer` go together", "set both, or neither (trust on first use)"
            )
        modes = [values["identity"], values["public-key"], values["certificate-chain"]]
        if sum(v is not None for v in modes) > 1:
            raise self.fail(sig_table, None, "choose one of identity/issuer, public-key or certificate-chain")
        return SignatureSpec(
            path, values["identity"], values["issuer"], values["public-key"], values["certificate-chain"]
        )

    def bases(self, table: tuple[str, ...], data: Mapping[str, Any], base: str | None) -> str | None:
        value = self.string(table, data, "bases")
        if value is None:
            return base
        if value not in BASES_MODES:
            raise self.fail(table, "bases", f"`bases` must be one of {', '.join(BASES_MODES)}, got {value!r}")
        return value

    def required(self, data: Mapping[str, Any]) -> frozenset[str] | bool:
        value = data.get("require-signatures", False)
        if isinstance(value, bool):
            return value
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return frozenset(value)
        raise self.fail(
            ("policy",), "require-signatures", "`require-signatures` must be true, false or a list of models"
        )

    def model(self, name: str, data: Any, base: Policy = DEFAULT_POLICY, bases: str | None = None) -> ModelSpec:
        table = ("models", name)
        if not valid_model_name(name):
            raise self.fail(table, None, f"model name {name!r} may only use letters, digits, `.`, `_` and `-`")
        if not isinstance(data, dict):
            raise self.fail(("models",), name, f"`models.{name}` must be a table, got {_describe(data)}")
        self.check_keys(table, data, _MODEL_KEYS)
        repo = self.string(table, data, "repo")
        if repo is None:
            raise self.fail(table, None, f"[models.{name}] needs `repo`", 'for example repo = "org/name"')
        source = self.string(table, data, "source") or HUGGINGFACE
        if source not in SOURCES:
            raise self.fail(table, "source", f"`source` must be one of {', '.join(SOURCES)}, got {source!r}")
        if source == HUGGINGFACE and not valid_repo_id(repo):
            raise self.fail(table, "repo", f"`repo` {repo!r} is not a Hugging Face repository id", 'use "org/name"')
        problem = repo_problem(source, repo)
        if problem:
            example = 'repo = "BUCKET/PREFIX/"' if source == "s3" else 'repo = "path/to/model-dir"'
            raise self.fail(table, "repo", f"`repo` {repo!r} cannot be a {source} model: {problem}", example)
        if source != HUGGINGFACE:
            for key in ("revision", "repo-type", "layout", "hub-scan-allow"):
                if key in data:  # a directory or a prefix has no branches, no datasets, no Hub cache
                    raise self.fail(table, key, f"`{key}` applies to Hugging Face models only, not {source}")
        revision = self.string(table, data, "revision") or ("main" if source == HUGGINGFACE else UNVERSIONED)
        problem = ref_problem(revision)
        if problem:
            raise self.fail(table, "revision", f"`revision` {revision!r} is not a branch, tag or commit: {problem}")
        repo_type = self.string(table, data, "repo-type") or "model"
        if repo_type not in REPO_TYPES:
            raise self.fail(
                table, "repo-type", f"`repo-type` must be one of {', '.join(REPO_TYPES)}, got {repo_type!r}"
            )
        layout = self.string(table, data, "layout") or "dir"
        if layout not in LAYOUTS:
            raise self.fail(table, "layout", f"`layout` must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        default_path = HF_CACHE_DEFAULT_PATH if layout == "hf-cache" else f"models/{name}"
        path = self.string(table, data, "path") or default_path
        problem = install_path_problem(path)
        if problem:
            raise self.fail(table, "path", f"`path` {path!r} cannot be an install directory: {problem}")
        return ModelSpec(
            name=name,
            repo=repo,
            revision=revision,
            repo_type=repo_type,
            include=self.globs(table, data, "include"),
            exclude=self.globs(table, data, "exclude"),
            install_path=path,
            layout=layout,
            policy=self.policy(table, data, base),
            signature=self.signature(table, data),
            bases=self.bases(table, data, bases),
            hub_scan_allow=self.file_paths(table, data, "hub-scan-allow"),
            source=source,
        )

    def check_paths(self, models: Mapping[str, ModelSpec], project_dir: Path) -> None:
        """Each `dir` model owns its path alone; `hf-cache` models may share a cache, not a repo and revision."""
        found = claims_problem((spec.claim() for spec in models.values()), project_dir)
        if found is not None:
            name, why = found
            raise self.fail(("models", name), "path", f"model `{name}` cannot be installed: {why}")

    def settings(self, data: Any) -> Settings:
        if not isinstance(data, dict):
            raise self.fail((), "settings", f"`settings` must be a table, got {_describe(data)}")
        self.check_keys(("settings",), data, _SETTINGS_KEYS)
        endpoint = self.string(("settings",), data, "endpoint")
        if endpoint is not None and not re.match(r"^https?://[^/\s]+", endpoint):
            raise self.fail(("settings",), "endpoint", f"`endpoint` must be an http(s) URL, got {endpoint!r}")
        link_mode = self.string(("settings",), data, "link-mode")
        if link_mode is not None and link_mode not in LINK_MODES:
            raise self.fail(
                ("settings",), "link-mode", f"`link-mode` must be one of {', '.join(LINK_MODES)}, got {link_mode!r}"
            )
        return Settings(
            store=self.string(("settings",), data, "store"),
            endpoint=endpoint,
            link_mode=link_mode,
            trusted_root=self.string(("settings",), data, "trusted-root"),
            registry=self.string(("settings",), data, "registry"),
            unlocked_repos=self.repo_patterns(data),
            s3_endpoint=self.url(data, "s3-endpoint"),
        )

    def repo_patterns(self, data: Mapping[str, Any]) -> tuple[str, ...]:
        patterns = self.strings(("settings",), data, "unlocked-repos", "repository ids")
        for pattern in patterns:
            if not _REPO_PATTERN.match(pattern):
                raise self.fail(
                    ("settings",),
                    "unlocked-repos",
                    f"`unlocked-repos` entries are repository ids like `org/name` or `org/*`, got {pattern!r}",
                    "a bare `*` would switch the guard off; list the organisations you mean",
                )
        return tuple(patterns)

    def url(self, data: Mapping[str, Any], key: str) -> str | None:
        value = self.string(("settings",), data, key)
        if value is not None and not re.match(r"^https?://[^/\s@]+/?$", value):
            raise self.fail(("settings",), key, f"`{key}` must be an http(s) URL of a host, got {value!r}")
        return value

    def read(self, path: Path) -> Manifest:
        data = parse(self.text, self.file)
        self.check_keys((), data, _TOP_KEYS)
        models_data = data.get("models", {})
        if not isinstance(models_data, dict):
            raise self.fail((), "models", f"`models` must be a table, got {_describe(models_data)}")
        policy_data = data.get("policy", {})
        if not isinstance(policy_data, dict):
            raise self.fail((), "policy", f"`policy` must be a table, got {_describe(policy_data)}")
        self.check_keys(("policy",), policy_data, (*_POLICY_KEYS, "require-signatures", "bases"))
        base = self.policy(("policy",), policy_data, DEFAULT_POLICY)
        bases = self.bases(("policy",), policy_data, None)
        required = self.required(policy_data)
        models = {name: self.model(name, entry, base, bases) for name, entry in sorted(models_data.items())}
        if isinstance(required, frozenset) and required - set(models):
            unknown = ", ".join(sorted(required - set(models)))
            raise self.fail(("policy",), "require-signatures", f"`require-signatures` names unknown models: {unknown}")
        for name, spec in models.items():
            if required is True or (isinstance(required, frozenset) and name in required):
                models[name] = replace(spec, require_signature=True)
        self.check_paths(models, path.parent)
        return Manifest(path=path, models=models, settings=self.settings(data.get("settings", {})))


def _describe(value: Any) -> str:
    kind = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        list: "a list",
        dict: "a table",
    }
    return kind.get(type(value), type(value).__name__)


def load_manifest(path: Path) -> Manifest:
    """Read and validate a manifest; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no manifest found", file=str(path), hint="run `modellock init` to create one") from None
    except UnicodeDecodeError:
        raise bad_utf8(path, "the manifest") from None
    return _Reader(text, str(path)).read(path)
