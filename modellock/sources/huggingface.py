"""The Hugging Face Hub as a source: huggingface_hub for the API, our own streaming GET for bytes."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import quote

import httpx2
from huggingface_hub import HfApi, constants, get_session, hf_hub_url, hf_raise_for_status
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import GitRefInfo, RepoFile
from huggingface_hub.utils._headers import build_hf_headers

from modellock import __version__
from modellock.errors import (
    GatedRepo,
    IntegrityError,
    NetworkError,
    RepoNotFound,
    RevisionNotFound,
    SourceError,
)
from modellock.sources.interface import Refs, RemoteFile, RepoRef, Sink, Source

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})

# Attempts per download and the first backoff delay; each later delay doubles.
ATTEMPTS = int(os.environ.get("MODELLOCK_HTTP_ATTEMPTS", "5"))
BACKOFF_S = float(os.environ.get("MODELLOCK_HTTP_BACKOFF", "1.0"))
_TIMEOUT = httpx2.Timeout(connect=10.0, read=60.0, write=60.0, pool=60.0)


class HuggingFaceSource(Source):
    """Repositories on the Hugging Face Hub (or any server speaking its protocol)."""

    name = "huggingface"

    def __init__(self, endpoint: str | None = None) -> None:
        # Like the `hf` CLI, HF_ENDPOINT wins; read it now, not at huggingface_hub's import.
        self.endpoint = (os.environ.get("HF_ENDPOINT") or endpoint or constants.ENDPOINT).rstrip("/")
        self._api = HfApi(endpoint=self.endpoint, library_name="modellock", library_version=__version__)

    def resolve(self, ref: RepoRef, revision: str) -> str:
        with _mapped_errors(ref, revision):
            info = self._api.repo_info(ref.repo, revision=revision, repo_type=ref.repo_type, timeout=60)
        commit = info.sha
        if not commit or not _COMMIT.match(commit):
            raise SourceError(f"the Hub returned no valid commit for {ref.repo}@{revision}")
        if _COMMIT.match(revision) and commit != revision:
            raise SourceError(f"the Hub answered commit {commit} when asked for commit {revision} of {ref.repo}")
        return commit

    def list_files(self, ref: RepoRef, commit: str) -> list[RemoteFile]:
        with _mapped_errors(ref, commit):
            entries = list(self._api.list_repo_tree(ref.repo, revision=commit, repo_type=ref.repo_type, recursive=True))
        files = []
        for entry in entries:
            if isinstance(entry, RepoFile):
                lfs = entry.lfs.sha256 if entry.lfs is not None else None
                files.append(RemoteFile(entry.path, int(entry.size), entry.blob_id, lfs))
        return files

    def refs(self, ref: RepoRef) -> Refs:
        with _mapped_errors(ref, "refs"):
            found = self._api.list_repo_refs(ref.repo, repo_type=ref.repo_type, include_pull_requests=True)
        return Refs(
            branches=_targets(ref, found.branches, lambda r: r.name),
            tags=_targets(ref, found.tags, lambda r: r.name),
            pull_requests=_targets(ref, found.pull_requests or [], lambda r: r.ref),
        )

    def history(self, ref: RepoRef, revision: str) -> Iterator[str]:
        from huggingface_hub.utils._pagination import paginate

        url = f"{self.endpoint}/api/{ref.repo_type}s/{ref.repo}/commits/{quote(revision, safe='')}"
        headers = build_hf_headers(library_name="modellock", library_version=__version__)
        with _mapped_errors(ref, revision):
            for item in paginate(url, params={}, headers=headers, timeout=60):
                commit = item.get("id") if isinstance(item, dict) else None
                if not isinstance(commit, str) or not _COMMIT.match(commit):
                    raise SourceError(f"the Hub's history of {ref.repo}@{revision} lists a malformed commit")
                yield commit

    def fetch(self, ref: RepoRef, commit: str, file: RemoteFile, sink: Sink) -> None:
        url = hf_hub_url(ref.repo, file.path, repo_type=ref.repo_type, revision=commit, endpoint=self.endpoint)
        headers = build_hf_headers(library_name="modellock", library_version=__version__)
        headers["Accept-Encoding"] = "identity"
        failure: Exception | None = None
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(BACKOFF_S * 2 ** (attempt - 1))
            try:
                if self._fetch_once(ref, commit, file, url, headers, sink):
                    return
            except (httpx2.TransportError, _Retryable) as exc:
                failure = exc
        raise NetworkError(
            f"could not download {file.path} from {ref.repo}@{commit[:7]} after {ATTEMPTS} attempts: "
            f"{_describe(failure)}",
            hint="check the network and run the command again; finished files are kept in the store",
        )

    def _fetch_once(
        self, ref: RepoRef, commit: str, file: RemoteFile, url: str, headers: dict[str, str], sink: Sink
    ) -> bool:
        request_headers = dict(headers)
        if sink.written:
            request_headers["Range"] = f"bytes={sink.written}-"
        with get_session().stream("GET", url, headers=request_headers, timeout=_TIMEOUT) as response:
            if response.status_code in _RETRY_STATUS:
                raise _Retryable(f"HTTP {response.status_code}")
            if response.status_code >= 400:
                response.read()
                with _mapped_errors(ref, commit, file.path):
                    hf_raise_for_status(response)
            if "Range" in request_headers and not _resumes_at(response, sink.written):
                sink.restart()
            # Chunks as they arrive: bytes reach the partial file (and count for a resume) at once.
            for chunk in response.iter_raw():
                sink.write(chunk)
                if sink.written > file.size:
                    raise IntegrityError(
                        f"{ref.repo}@{commit[:7]}: {file.path} is larger than the expected {file.size} bytes",
                    )
        return sink.written == file.size


def _targets(ref: RepoRef, infos: Iterable[GitRefInfo], key: Callable[[GitRefInfo], str]) -> dict[str, str]:
    found = {}
    for info in infos:
        if not _COMMIT.match(str(info.target_commit)):
            raise SourceError(f"the Hub lists ref {info.ref!r} of {ref.repo} with a malformed commit")
        found[key(info)] = info.target_commit
    return found


class _Retryable(Exception):
    """A server answer worth trying again (5xx, 429, 408)."""


def _resumes_at(response: httpx2.Response, offset: int) -> bool:
    found = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return response.status_code == 206 and found is not None and int(found.group(1)) == offset


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
    except httpx2.TransportError as exc:
        raise NetworkError(f"cannot reach the Hub for {what}: {_describe(exc)}") from None
