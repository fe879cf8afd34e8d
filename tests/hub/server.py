"""The emulator's HTTP side: a Hub port and a separate "CDN" port, as in research/hf_hub.md §11."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.hub.repo import Blob, Repo


@dataclass
class Faults:
    """Knobs tests turn to make the emulator misbehave; keyed by repository path unless noted."""

    corrupt: set[str] = field(default_factory=set)
    """Serve bytes of the right size with one byte flipped."""
    extra_bytes: set[str] = field(default_factory=set)
    """Serve the right bytes followed by more."""
    drop_after: dict[str, int] = field(default_factory=dict)
    """Close the connection after this many body bytes, once per entry."""
    status: dict[str, list[int]] = field(default_factory=dict)
    """Answer downloads with these statuses first, one per request."""
    throttle: dict[str, float] = field(default_factory=dict)
    """Seconds to sleep per 64 KiB chunk sent."""
    trickle: dict[str, float] = field(default_factory=dict)
    """Send the body one byte at a time, sleeping this many seconds between bytes."""
    redirect_loop: set[str] = field(default_factory=set)
    """Answer downloads with a redirect to the same URL, forever."""
    tree_json: Callable[[list[dict[str, Any]]], Any] | None = None
    """Rewrite each tree page before it is sent (malformed listings)."""
    info_json: Callable[[dict[str, Any]], Any] | None = None
    """Rewrite each model_info answer before it is sent (bytes are sent as they are)."""
    link_base: str | None = None
    """Origin that pagination `Link: rel=next` URLs point at (default: the Hub's own)."""
    ignore_range: bool = False
    """Answer Range requests with the whole file (200), as some servers do."""
    corrupt_at: dict[str, int] = field(default_factory=dict)
    """Flip the byte at this offset in every answer that covers it (one range with wrong bytes)."""
    expire_after: dict[str, int] = field(default_factory=dict)
    """The CDN refuses a signed URL (403, as S3 does once it expires) after this many requests with it."""
    cdn_raw: Callable[[str], Iterator[bytes]] | None = None
    """Answer every CDN request with these raw bytes (status line and headers included), given its
    `Range` header: a hostile server, byte for byte."""
    rate: float | None = None
    """Bytes per second each connection is allowed (a per-connection cap, as far-away CDNs impose)."""
    history_loop: bool = False
    """Every page of a commit history links to itself as the next one: a listing that never ends."""
    after_revision: Callable[[Repo, str], None] | None = None
    """Called after each revision lookup (model_info), e.g. to move a branch between calls."""
    cdn_base: str | None = None
    """Where LFS redirects point instead of the emulator's own CDN port: `{cdn_base}/blobs/{sha256}`
    (a native server, e.g. nginx over a directory of blobs, so a benchmark measures the client, not
    this Python server)."""


class FakeHub:
    """Two loopback HTTP servers sharing one set of repositories."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], Repo] = {}
        self.faults = Faults()
        self.requests: list[tuple[str, str]] = []
        self.auth: list[tuple[str, str, str | None]] = []
        """(`hub` or `cdn`, path, Authorization header) of every request."""
        self.ranges: list[str] = []
        """`Range` headers received, in order."""
        self.served: dict[str, int] = {}
        """Body bytes written to the socket per repository path (what a client may have received)."""
        self._generation: dict[str, int] = {}
        self._uses: dict[str, int] = {}
        self.expired: list[str] = []
        """Paths whose CDN signature expired, once per expiry."""
        self.page_size = 1000
        """Tree entries per page; the real Hub sends 1000."""
        self._lock = threading.Lock()
        self._hub = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, cdn=False))
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, cdn=True))
        for server in (self._hub, self._cdn):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True, kwargs={"poll_interval": 0.05}).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def close(self) -> None:
        for server in (self._hub, self._cdn):
            server.shutdown()
            server.server_close()

    def repo(self, repo_id: str, repo_type: str = "model", **kwargs: Any) -> Repo:
        repo = Repo(repo_id, repo_type, **kwargs)
        self.repos[(repo_type, repo_id)] = repo
        return repo

    def log(self, method: str, path: str, server: str = "hub", auth: str | None = None) -> None:
        with self._lock:
            self.requests.append((method, path))
            self.auth.append((server, path, auth))

    def count_served(self, path: str, n: int) -> None:
        with self._lock:
            self.served[path] = self.served.get(path, 0) + n

    def sign(self, path: str) -> str:
        """The signature the Hub puts in a CDN redirect for `path` right now."""
        with self._lock:
            return f"sig{self._generation.get(path, 0)}"

    def signature_valid(self, path: str, signature: str) -> bool:
        """Count a CDN request; once `expire_after` are made with the current signature it expires."""
        with self._lock:
            generation = self._generation.get(path, 0)
            if signature != f"sig{generation}":
                return False
            limit = self.faults.expire_after.get(path)
            self._uses[path] = self._uses.get(path, 0) + 1
            if limit is not None and self._uses[path] >= limit:
                self._generation[path], self._uses[path] = generation + 1, 0
                self.expired.append(path)
            return True

    def blob_by_sha256(self, sha256: str) -> tuple[str, Blob] | None:
        # Digests are cached on each Blob, so this scan costs no hashing after the first request.
        for repo in self.repos.values():
            for tree in repo.commits.values():
                for path, blob in tree.items():
                    if blob.lfs and blob.sha256 == sha256:
                        return path, blob
        return None


def _handler(hub: FakeHub, *, cdn: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(_Base):
        pass

    Handler.hub = hub
    Handler.is_cdn = cdn
    return Handler


class _Base(BaseHTTPRequestHandler):
    hub: FakeHub
    is_cdn: bool
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, delayed ACKs cost 40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing -------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, data: Any, headers: dict[str, str] | None = None) -> None:
        body = data if isinstance(data, bytes) else json.dumps(data).encode()  # bytes: a fault's raw answer
        self._send(200, body, {"Content-Type": "application/json", **(headers or {})})

    def _error(self, status: int, code: str | None, message: str, extra: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": "application/json", "X-Error-Message": message, **(extra or {})}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, json.dumps({"error": message}).encode(), headers)

    def _token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth.removeprefix("Bearer ").strip() or None if auth.startswith("Bearer ") else None

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        self.hub.log(self.command, self.path, "cdn" if self.is_cdn else "hub", self.headers.get("authorization"))
        # Split the raw path before percent-decoding: revisions carry %2F.
        parts = split.path.strip("/").split("/")
        query = parse_qs(split.query)
        try:
            if self.is_cdn and parts[:1] != ["api"]:  # the "other origin" answers API pages too (Link tests)
                self._cdn_get(parts)
            elif parts[:1] == ["api"]:
                self._api(parts[1:], query)
            else:
                self._resolve(parts)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- repositories and auth --------------------------------------------------------------------

    def _find(self, repo_type: str, ns: str, name: str) -> Repo | None:
        repo = self.hub.repos.get((repo_type, f"{unquote(ns)}/{unquote(name)}"))
        if repo is None or (repo.private and self._token() not in repo.tokens):
            self._error(401, "RepoNotFound", "Repository not found")
            return None
        return repo

    def _commit(self, repo: Repo, rev_enc: str) -> str | None:
        revision = unquote(rev_enc)
        commit = repo.resolve(revision)
        if commit is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return commit

    # -- API --------------------------------------------------------------------------------------

    def _api(self, parts: list[str], query: dict[str, list[str]]) -> None:
        if parts == ["agent-harnesses"]:
            self._error(404, None, "Not found")
            return
        kinds = {"models": "model", "datasets": "dataset"}
        if len(parts) < 3 or parts[0] not in kinds:
            self._error(404, None, "Not found")
            return
        repo = self._find(kinds[parts[0]], parts[1], parts[2])
        if repo is None:
            return
        rest = parts[3:]
        if not rest or rest[0] == "revision":
            commit = self._commit(repo, rest[1] if len(rest) > 1 else "main")
            if commit is not None:
                if "expand" in query:
                    self._expanded(repo, commit, query["expand"])
                else:
                    self._info(repo, commit, query.get("blobs") == ["true"])
                if self.hub.faults.after_revision is not None:
                    self.hub.faults.after_revision(repo, commit)
        elif rest[0] == "tree" and len(rest) >= 2:
            commit = self._commit(repo, rest[1])
            if commit is not None:
                self._tree(repo, commit, unquote("/".join(rest[2:])), query)
        elif rest[0] == "paths-info" and len(rest) == 2 and self.command == "POST":
            commit = self._commit(repo, rest[1])
            if commit is not None:
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                tree = repo.commits[commit]
                self._json([tree[p].tree_entry(p) for p in form.get("paths", []) if p in tree])
        elif rest == ["refs"]:
            self._json(self._refs(repo, "include_prs" in query))
        elif rest[0] == "commits" and len(rest) == 2:
            if self._commit(repo, rest[1]) is not None:
                self._commits(repo, unquote(rest[1]), query)
        else:
            self._error(404, None, "Not found")

    def _info(self, repo: Repo, commit: str, blobs: bool) -> None:
        tree = repo.commits[commit]
        siblings = []
        for path, blob in sorted(tree.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if blobs:
                sibling.update(blobId=blob.oid, size=len(blob.data))
                if blob.lfs:
                    sibling["lfs"] = {
                        "sha256": blob.sha256,
                        "size": len(blob.data),
                        "pointerSize": len(blob.pointer),
                    }
            siblings.append(sibling)
        info = self.hub.faults.info_json or (lambda data: data)
        self._json(
            info(
                {
                    "_id": "0" * 24,
                    "id": repo.repo_id,
                    "modelId": repo.repo_id,
                    "author": repo.repo_id.split("/")[0],
                    "sha": commit,
                    "lastModified": "2026-01-01T00:00:00.000Z",
                    "createdAt": "2025-01-01T00:00:00.000Z",
                    "private": repo.private,
                    "gated": "manual" if repo.gated else False,
                    "disabled": False,
                    "downloads": 0,
                    "likes": 0,
                    "tags": [],
                    "siblings": siblings,
                    "spaces": [],
                    **({"cardData": repo.cards[commit]} if commit in repo.cards else {}),
                }
            )
        )

    def _expanded(self, repo: Repo, commit: str, fields: list[str]) -> None:
        """`?expand=…`: the Hub answers only `_id`, `id` and the fields asked for."""
        card = repo.cards.get(commit)
        data: dict[str, Any] = {"_id": "0" * 24, "id": repo.repo_id}
        if "cardData" in fields and card is not None:
            data["cardData"] = card
        if "sha" in fields:
            data["sha"] = commit
        if "baseModels" in fields and card is not None and card.get("base_model"):
            names = card["base_model"] if isinstance(card["base_model"], list) else [card["base_model"]]
            # The Hub infers the relation when the card does not say (and is sometimes wrong).
            inferred = "adapter" if "adapter_config.json" in repo.commits[commit] else "finetune"
            relation = card.get("base_model_relation") or ("merge" if len(names) > 1 else inferred)
            data["baseModels"] = {"relation": relation, "models": [{"_id": "1" * 24, "id": n} for n in names]}
        info = self.hub.faults.info_json or (lambda d: d)
        self._json(info(data))

    def _tree(self, repo: Repo, commit: str, prefix: str, query: dict[str, list[str]]) -> None:
        tree = repo.commits[commit]
        recursive = query.get("recursive") == ["true"]
        base = f"{prefix}/" if prefix else ""
        if prefix and not any(p.startswith(base) for p in tree):
            self._error(404, "EntryNotFound", f'{prefix} does not exist on "{commit}"')
            return
        entries: dict[str, dict[str, Any]] = {}
        for path, blob in sorted(tree.items()):
            if not path.startswith(base):
                continue
            rel = path[len(base) :].split("/")
            depth = len(rel) if recursive else 1
            for i in range(1, min(depth, len(rel) - 1) + 1):
                folder = base + "/".join(rel[:i])
                entries.setdefault(folder, {"type": "directory", "oid": "0" * 40, "size": 0, "path": folder})
            if recursive or len(rel) == 1:
                entries[path] = blob.tree_entry(path)
                if query.get("expand") == ["true"]:
                    last = {"id": commit, "title": commit[:7], "date": "2026-01-01T00:00:00.000Z"}
                    entries[path]["lastCommit"] = last
                    scan = repo.scan_of(path)
                    if scan is not None:
                        entries[path]["securityFileStatus"] = scan
        listing = list(entries.values())
        start = int(query.get("cursor", ["0"])[0])
        page = listing[start : start + self.hub.page_size]
        headers = {}
        if start + self.hub.page_size < len(listing):
            split = urlsplit(self.path)
            base = self.hub.faults.link_base or self.hub.endpoint
            query = _with_cursor(split.query, start + self.hub.page_size)
            headers["Link"] = f'<{base}{split.path}?{query}>; rel="next"'
        transform = self.hub.faults.tree_json
        self._json(transform(page) if transform is not None else page, headers)

    def _commits(self, repo: Repo, revision: str, query: dict[str, list[str]]) -> None:
        """`/api/models/{repo}/commits/{rev}`: the history, newest first, paginated like the real Hub."""
        items = [
            {
                "id": c,
                "authors": [{"user": "someone"}],
                "date": "2026-01-01T00:00:00.000Z",
                "title": c[:7],
                "message": "",
            }
            for c in repo.history(revision)
        ]
        start = int(query.get("p", ["0"])[0])
        page = items[start : start + self.hub.page_size]
        headers = {}
        if start + self.hub.page_size < len(items) or self.hub.faults.history_loop:
            split = urlsplit(self.path)
            after = start if self.hub.faults.history_loop else start + self.hub.page_size
            headers["Link"] = f'<{self.hub.endpoint}{split.path}?p={after}>; rel="next"'
        self._json(page, headers)

    def _refs(self, repo: Repo, prs: bool) -> dict[str, Any]:
        refs: dict[str, Any] = {
            "branches": [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": c} for n, c in repo.branches.items()],
            "converts": [],
            "tags": [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": c} for n, c in repo.tags.items()],
        }
        if prs:
            refs["pullRequests"] = [
                {"name": str(n), "ref": f"refs/pr/{n}", "targetCommit": c} for n, c in repo.prs.items()
            ]
        return refs

    # -- file content -------------------------------------------------------------------------------

    def _resolve(self, parts: list[str]) -> None:
        repo_type = "model"
        if parts[:1] in (["datasets"], ["models"]):
            repo_type = "dataset" if parts[0] == "datasets" else "model"
            parts = parts[1:]
        if len(parts) < 5 or parts[2] != "resolve":
            self._error(404, None, "Not found")
            return
        repo = self._find(repo_type, parts[0], parts[1])
        if repo is None:
            return
        commit = self._commit(repo, parts[3])
        if commit is None:
            return
        if repo.gated and self._token() not in repo.tokens:
            anonymous = self._token() is None
            message = f"Access to model {repo.repo_id} is restricted" + (
                "." if anonymous else " and you are not in the authorized list."
            )
            self._error(401 if anonymous else 403, "GatedRepo", message)
            return
        path = unquote("/".join(parts[4:]))
        blob = repo.commits[commit].get(path)
        if blob is None:
            self._error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": commit})
            return
        if self._injected_status(path):
            return
        if path in self.hub.faults.redirect_loop:
            loop = {"Location": f"{self.hub.endpoint}{urlsplit(self.path).path}", "X-Repo-Commit": commit}
            self._send(302, b"", loop)
            return
        headers = {"X-Repo-Commit": commit, "Accept-Ranges": "bytes"}
        if blob.lfs:
            headers.update(
                {
                    "Location": f"{self.hub.faults.cdn_base or self.hub.cdn}/blobs/{blob.sha256}"
                    f"?X-Amz-Signature={self.hub.sign(path)}",
                    "X-Linked-Etag": f'"{blob.sha256}"',
                    "X-Linked-Size": str(len(blob.data)),
                    "ETag": f'W/"{blob.oid}"',
                }
            )
            self._send(302, b"", headers)
            return
        self._body(path, blob, {"ETag": f'"{blob.oid}"', **headers})

    def _cdn_get(self, parts: list[str]) -> None:
        if self.hub.faults.cdn_raw is not None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                for piece in self.hub.faults.cdn_raw(self.headers.get("Range", "")):
                    self.wfile.write(piece)
                    self.wfile.flush()
            return
        found = self.hub.blob_by_sha256(parts[-1]) if parts[:1] == ["blobs"] else None
        if found is None:
            self._send(404, b"NoSuchKey")
            return
        path, blob = found
        if self._injected_status(path):
            return
        signature = parse_qs(urlsplit(self.path).query).get("X-Amz-Signature", [""])[0]
        if not self.hub.signature_valid(path, signature):
            self._send(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")
            return
        self._body(path, blob, {"ETag": f'"{blob.sha256}"', "Accept-Ranges": "bytes"})

    def _injected_status(self, path: str) -> bool:
        queue = self.hub.faults.status.get(path)
        if queue:
            self._error(queue.pop(0), None, "Injected failure")
            return True
        return False

    def _body(self, path: str, blob: Blob, headers: dict[str, str]) -> None:
        faults = self.hub.faults
        data = blob.data
        if path in faults.corrupt and data:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        if path in faults.extra_bytes:
            data = data + b"\0" * 1024
        status = 200
        found = self.headers.get("Range", "")
        if found:
            self.hub.ranges.append(found)
        offset = 0
        if found.startswith("bytes=") and not faults.ignore_range:
            first, _, last = found[6:].partition("-")
            start = int(first)
            end = min(int(last) + 1, len(data)) if last else len(data)
            if start >= len(data):
                self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
            data, offset = data[start:end], start
            status = 206
        flip = faults.corrupt_at.get(path)
        if flip is not None and offset <= flip < offset + len(data):
            at = flip - offset
            data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
        headers.setdefault("Content-Type", "application/octet-stream")
        headers["Content-Length"] = str(len(data))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        limit = faults.drop_after.pop(path, None)
        delay = faults.throttle.get(path, 0.0)
        trickle = faults.trickle.get(path)
        if trickle is not None:
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                self.hub.count_served(path, 1)
                time.sleep(trickle)
            return
        sent, began = 0, time.monotonic()
        data = memoryview(data)  # slices below without copying
        # Under a rate, chunks of 10 ms each: fine enough to hold it, coarse enough not to burn the CPU
        # both sides of a benchmark share.
        step = max(16384, int(faults.rate / 100)) if faults.rate else 65536
        for i in range(0, len(data), step):
            chunk = data[i : i + step]
            if faults.rate:
                ahead = sent / faults.rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
            if limit is not None and sent + len(chunk) > limit:
                self.wfile.write(chunk[: limit - sent])
                self.wfile.flush()
                self.hub.count_served(path, limit - sent)
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(chunk)
            self.hub.count_served(path, len(chunk))
            sent += len(chunk)
            if delay:
                time.sleep(delay)


def _with_cursor(query: str, cursor: int) -> str:
    params = [(k, v) for k, vs in parse_qs(query).items() for v in vs if k != "cursor"]
    params.append(("cursor", str(cursor)))
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in params)
