"""The Hugging Face Hub as a source: huggingface_hub for the API, our own streaming GET for bytes."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import quote

import httpx2
from huggingface_hub import HfApi, constants, get_session, hf_raise_for_status, set_client_factory
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import GitRefInfo, RepoFile
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # public, documented; not in __all__

from modellock import __version__, jsonread
from modellock.compat import hf_default_client_factory, hf_paginate
from modellock.download.location import Location
from modellock.errors import (
    HUB_UNREACHABLE_HINT,
    GatedRepo,
    ModellockError,
    NetworkError,
    RepoNotFound,
    RevisionNotFound,
    SourceError,
)
from modellock.project.hubscan import HubScan
from modellock.sources.hubscan import from_hub
from modellock.sources.interface import CardLineage, HttpSource, Refs, RemoteFile, RepoRef

_COMMIT = re.compile(r"^[0-9a-f]{40}\Z")
_HEX = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}\Z")

MAX_HISTORY = 200_000
"""Commits one history listing may hold (the Hub's largest repositories have tens of thousands)."""

# Requests to the endpoint's origin carry the token; nothing else does (see _strip_foreign_auth).
_TRUSTED_ORIGINS: set[tuple[str, str, int]] = set()
_PORTS = {"http": 80, "https": 443}


def _origin(url: httpx2.URL) -> tuple[str, str, int]:
    return (url.scheme, (url.host or "").lower(), url.port or _PORTS.get(url.scheme, 0))


def _strip_foreign_auth(request: httpx2.Request) -> None:
    """Authorization only ever goes to the endpoint's origin: redirects, pagination `Link`s, anything."""
    if "authorization" in request.headers and _origin(request.url) not in _TRUSTED_ORIGINS:
        del request.headers["authorization"]


def _client() -> httpx2.Client:
    client: httpx2.Client = hf_default_client_factory()()
    # After huggingface_hub's own hook, which may add headers; ours runs on every request, redirects included.
    client.event_hooks = {**client.event_hooks, "request": [*client.event_hooks["request"], _strip_foreign_auth]}
    return client


set_client_factory(_client)


def _headers() -> dict[str, str]:
    """huggingface_hub's headers for the API: the user agent, and the token from the environment or login."""
    return build_hf_headers(library_name="modellock", library_version=__version__)  # type: ignore[no-any-return]


class HuggingFaceSource(HttpSource):
    """Repositories on the Hugging Face Hub (or any server speaking its protocol)."""

    name = "huggingface"

    def __init__(self, endpoint: str | None = None) -> None:
        # Like the `hf` CLI, HF_ENDPOINT wins; read it now, not at huggingface_hub's import.
        self.endpoint = (os.environ.get("HF_ENDPOINT") or endpoint or constants.ENDPOINT).rstrip("/")
        _TRUSTED_ORIGINS.add(_origin(httpx2.URL(self.endpoint)))
        self._api = HfApi(endpoint=self.endpoint, library_name="modellock", library_version=__version__)

    def resolve(self, ref: RepoRef, revision: str) -> str:
        with _mapped_errors(ref, revision):
            try:
                info = self._api.repo_info(ref.repo, revision=revision, repo_type=ref.repo_type, timeout=60)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise SourceError(
                    f"the Hub's answer about {ref.repo}@{revision} is malformed ({type(exc).__name__}: {exc})",
                    hint="the endpoint (or a proxy in front of it) does not speak the Hub's API; check HF_ENDPOINT",
                ) from None
        commit = info.sha
        if not isinstance(commit, str) or not _COMMIT.match(commit):
            raise SourceError(
                f"the Hub returned no valid commit for {ref.repo}@{revision}",
                hint="the endpoint (or a proxy in front of it) does not speak the Hub's API; check HF_ENDPOINT",
            )
        if _COMMIT.match(revision) and commit != revision:
            raise SourceError(f"the Hub answered commit {commit} when asked for commit {revision} of {ref.repo}")
        return commit

    def list_files(self, ref: RepoRef, commit: str, *, scans: bool = False) -> list[RemoteFile]:
        # The raw JSON, not list_repo_tree: its RepoFile keeps only two of the five scanners of
        # `securityFileStatus` and indexes that object without checking it.
        url = f"{self.endpoint}/api/{ref.repo_type}s/{ref.repo}/tree/{quote(commit, safe='')}"
        params = {"recursive": True, "expand": scans}
        files = []
        with _mapped_errors(ref, commit):
            try:
                for raw in hf_paginate(url, params=params, headers=_headers()):
                    if not isinstance(raw, dict):
                        raise TypeError(f"an entry is a {type(raw).__name__}")
                    if raw.get("type") != "file":
                        continue
                    entry = {k: v for k, v in raw.items() if k not in ("securityFileStatus", "lastCommit")}
                    scan = from_hub(raw.get("securityFileStatus")) if scans else None
                    files.append(_remote_file(ref, commit, RepoFile(**entry), scan))  # type: ignore[no-untyped-call]
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                # huggingface_hub indexes the JSON without checking it: a missing key, a list that is
                # an object, an entry that is a string.
                raise _malformed(ref, commit, f"{type(exc).__name__}: {exc}") from None
        return files

    @property
    def location(self) -> str:
        return self.endpoint

    def lineage(self, ref: RepoRef, commit: str) -> CardLineage:
        if ref.repo_type != "model":
            return CardLineage()
        # The raw answer, not model_info: its ModelInfo takes `cardData` apart (a list or a string there
        # fails the whole call), while the card is the author's YAML and only evidence. What cannot be
        # read is unavailable, and said so, never fatal.
        url = f"{self.endpoint}/api/models/{ref.repo}/revision/{quote(commit, safe='')}"
        params = {"expand": ["cardData", "baseModels"]}
        with _mapped_errors(ref, commit):
            response = get_session().get(url, params=params, headers=_headers(), timeout=60)
            hf_raise_for_status(response)
        where = f"the Hub's card data for {ref.repo}@{commit[:7]}"
        try:
            data = jsonread.loads(response.content, where)
        except jsonread.MalformedJSON as exc:
            return CardLineage(problem=f"{exc.message}; not read")
        if not isinstance(data, dict):
            return CardLineage(problem=f"{where} is a {_json_type(data)}, not an object; not read")
        card, problem = data.get("cardData"), ""
        if card is not None and not isinstance(card, dict):
            card, problem = {}, f"{where}: `cardData` is a {_json_type(card)}, not a mapping; not read"
        return CardLineage(card or {}, data.get("baseModels"), problem)

    def refs(self, ref: RepoRef) -> Refs:
        with _mapped_errors(ref, "refs"):
            found = self._api.list_repo_refs(ref.repo, repo_type=ref.repo_type, include_pull_requests=True)
        return Refs(
            branches=_targets(ref, found.branches, lambda r: r.name),
            tags=_targets(ref, found.tags, lambda r: r.name),
            pull_requests=_targets(ref, found.pull_requests or [], lambda r: r.ref),
        )

    def history(self, ref: RepoRef, revision: str) -> Iterator[str]:
        url = f"{self.endpoint}/api/{ref.repo_type}s/{ref.repo}/commits/{quote(revision, safe='')}"
        headers = build_hf_headers(library_name="modellock", library_version=__version__)
        listed: set[str] = set()
        with _mapped_errors(ref, revision):
            for item in hf_paginate(url, params={}, headers=headers, timeout=60):
                commit = item.get("id") if isinstance(item, dict) else None
                if not isinstance(commit, str) or not _COMMIT.match(commit):
                    raise SourceError(f"the Hub's history of {ref.repo}@{revision} lists a malformed commit")
                # A history lists each commit once and ends: a server that loops or never stops would
                # hold `lock` and `--remote` forever; what cannot be searched to its end proves nothing.
                if commit in listed:
                    raise SourceError(
                        f"the Hub's history of {ref.repo}@{revision} lists commit {commit[:7]} twice "
                        "(a listing that does not end)",
                        hint="the endpoint (or a proxy in front of it) does not speak the Hub's API; check HF_ENDPOINT",
                    )
                if len(listed) >= MAX_HISTORY:
                    raise SourceError(
                        f"the Hub's history of {ref.repo}@{revision} has more than {MAX_HISTORY:,} commits; "
                        "not searched further, so nothing is proved by it",
                        hint="name the commit by a tag or branch (`revision` in modellock.toml) instead of its hash",
                    )
                listed.add(commit)
                yield commit

    def locate(self, ref: RepoRef, commit: str, file: RemoteFile) -> Location:
        # Built here, not by hf_hub_url: that one formats huggingface_hub's import-time endpoint and swaps in
        # ours only if the result starts with `constants.ENDPOINT` now, so an endpoint changed after import
        # (a long-lived process, a library caller) sent the download to huggingface.co.
        prefix = "" if ref.repo_type == "model" else f"{ref.repo_type}s/"
        url = f"{self.endpoint}/{prefix}{ref.repo}/resolve/{quote(commit, safe='')}/{quote(file.path)}"
        # huggingface_hub's headers: the user agent, and the token (the engine sends it to the endpoint only).
        headers = build_hf_headers(library_name="modellock", library_version=__version__)

        def refused(response: httpx2.Response) -> Exception:
            try:
                with _mapped_errors(ref, commit, file.path):
                    hf_raise_for_status(response)
            except ModellockError as exc:
                return exc
            return SourceError(f"the Hub refused {file.path} of {ref.repo}@{commit[:7]} (HTTP {response.status_code})")

        return Location(url, headers, get_session(), refused)


def _targets(ref: RepoRef, infos: Iterable[GitRefInfo], key: Callable[[GitRefInfo], str]) -> dict[str, str]:
    found = {}
    for info in infos:
        if not _COMMIT.match(str(info.target_commit)):
            raise SourceError(f"the Hub lists ref {info.ref!r} of {ref.repo} with a malformed commit")
        found[key(info)] = info.target_commit
    return found


def _malformed(ref: RepoRef, commit: str, detail: str) -> SourceError:
    return SourceError(
        f"the Hub's file listing for {ref.repo}@{commit[:7]} is malformed ({detail})",
        hint="the endpoint (or a proxy in front of it) does not speak the Hub's API; check HF_ENDPOINT / "
        "[settings] endpoint",
    )


def _remote_file(ref: RepoRef, commit: str, entry: RepoFile, scan: HubScan | None = None) -> RemoteFile:
    """A listing entry, checked for the types we rely on (sizes and digests are still only claims)."""
    path, size, oid = entry.path, entry.size, entry.blob_id
    if not isinstance(path, str) or not path:
        raise _malformed(ref, commit, f"an entry has path {path!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _malformed(ref, commit, f"{path}: size {size!r} is not a byte count")
    if not isinstance(oid, str) or not _HEX.match(oid):
        raise _malformed(ref, commit, f"{path}: oid {oid!r} is not a git object id")
    lfs = entry.lfs.sha256 if entry.lfs is not None else None
    if lfs is not None and not (isinstance(lfs, str) and re.match(r"^[0-9a-f]{64}$", lfs)):
        raise _malformed(ref, commit, f"{path}: LFS oid {lfs!r} is not a SHA-256")
    return RemoteFile(path, size, oid, lfs, scan)


def _json_type(value: object) -> str:
    names = {list: "list", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _describe(exc: Exception | None) -> str:
    if exc is None:
        return "the server closed the connection before the file was complete"
    return str(exc) or type(exc).__name__


@contextmanager
def _mapped_errors(ref: RepoRef, revision: str, path: str | None = None) -> Iterator[None]:
    """Turn huggingface_hub and transport errors into modellock errors that never echo a token."""
    what = f"{ref.repo_type} {ref.repo}" if ref.repo_type != "model" else ref.repo
    try:
        yield
    except GatedRepoError:
        raise GatedRepo(
            f"{what} is gated and your Hugging Face token does not have access",
            hint=f"request access on the Hub page of {ref.repo}, then log in with `hf auth login` or set HF_TOKEN",
        ) from None
    except RevisionNotFoundError:
        raise RevisionNotFound(
            f"revision {revision!r} not found in {what}",
            hint="use a branch, a tag or a full 40-hex commit that exists in the repository",
        ) from None
    except RepositoryNotFoundError:
        raise RepoNotFound(
            f"repository {what} not found (or it is private and your token cannot see it)",
            hint="check the name; for a private repository log in with `hf auth login` or set HF_TOKEN",
        ) from None
    except EntryNotFoundError:
        raise SourceError(f"{path or 'a file'} is listed at {what}@{revision[:7]} but cannot be downloaded") from None
    except OfflineModeIsEnabled:
        raise NetworkError(
            f"cannot reach the Hub for {what}: HF_HUB_OFFLINE is set",
            hint="unset HF_HUB_OFFLINE, or lock without network only when the lock is already up to date",
        ) from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise SourceError(
            f"the Hub refused a request for {what} (HTTP {status}): {exc.server_message or ''}".rstrip(": ")
        ) from None
    except httpx2.TooManyRedirects:
        raise NetworkError(
            f"cannot reach the Hub for {what}: the server redirects in a loop",
            hint="the endpoint (or a proxy in front of it) is misconfigured; check HF_ENDPOINT",
        ) from None
    except httpx2.HTTPError as exc:
        raise NetworkError(f"cannot reach the Hub for {what}: {_describe(exc)}", hint=HUB_UNREACHABLE_HINT) from None
    except RecursionError:
        # huggingface_hub parses its answers with json.loads: arrays nested past the interpreter's limit.
        raise SourceError(
            f"the Hub's answer about {what}@{revision[:40]} is JSON nested too deep to read",
            hint="the endpoint (or a proxy in front of it) does not speak the Hub's API; check HF_ENDPOINT",
        ) from None
    except (TypeError, AttributeError, KeyError, json.JSONDecodeError) as exc:
        # huggingface_hub indexes answers (error documents too: `{"errors": 5}`, a list) without checking
        # them. Only what it raised is the server's doing; the same error from our own code is a bug.
        if not _raised_in_huggingface_hub(exc):
            raise
        raise SourceError(
            f"the Hub's answer about {what}@{revision[:40]} is malformed ({type(exc).__name__})",
            hint="the endpoint (or a proxy in front of it) does not speak the Hub's API; check HF_ENDPOINT",
        ) from None


def _raised_in_huggingface_hub(exc: BaseException) -> bool:
    """Whether the innermost frame of huggingface_hub or modellock that `exc` passed is huggingface_hub's
    (frames of the standard library or httpx below it, e.g. json's decoder, do not count)."""
    owner = None
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if f"{os.sep}huggingface_hub{os.sep}" in name:
            owner = "huggingface_hub"
        elif f"{os.sep}modellock{os.sep}" in name:
            owner = "modellock"
        tb = tb.tb_next
    return owner == "huggingface_hub"
