"""A focused client of the OCI distribution API: ping, auth, blobs (HEAD, streamed upload, mount), manifests.

Every answer is hostile input: sizes are capped, `Location`s must stay on the registry's origin, a
manifest fetched by digest is hashed here, and no error message carries a credential or token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import httpx2

from modellock import jsonread
from modellock.errors import NetworkError, SourceError
from modellock.oci.auth import Challenge, Credentials, lookup, parse_challenge
from modellock.oci.reference import RegistryRef, is_loopback

MAX_MANIFEST = 4 * 1024 * 1024  # the distribution spec's recommended manifest limit
MAX_TOKEN = 1024 * 1024
MAX_ANSWER = 1024 * 1024  # pings, HEADs, uploads and error documents
UPLOAD_CHUNK = 8 * 1024 * 1024
TIMEOUT = httpx2.Timeout(connect=10.0, read=60.0, write=60.0, pool=60.0)


class RegistryError(SourceError):
    """The registry refused, or answered something that is not the distribution API."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(
            message,
            hint=hint
            or "the registry (or a proxy in front of it) did not answer as the OCI distribution API "
            "does; check the registry address and the registry's logs",
        )


class AuthError(RegistryError):
    """The registry wants credentials we do not have, or refused the ones we sent."""


class NotInRegistry(RegistryError):
    """A manifest or blob the lock names is not in the registry (a miss: the next source may have it)."""


def _pull_push(name: str, push: bool) -> str:
    return f"repository:{name}:{'pull,push' if push else 'pull'}"


class Registry:
    """One registry, with the credentials for it and a token per scope once a challenge asked for one."""

    def __init__(
        self,
        ref: RegistryRef,
        *,
        credentials: Credentials | None = None,
        client: httpx2.Client | None = None,
        environment_credentials: bool = True,
    ) -> None:
        self.ref = ref
        self._credentials = credentials or lookup(ref.host, environment=environment_credentials)
        self.client = client or httpx2.Client(timeout=TIMEOUT, follow_redirects=False)
        self._challenge: Challenge | None = None
        self._tokens: dict[str, str] = {}
        self._pinged = False

    # -- auth -------------------------------------------------------------------------------------------------
    def _unreachable(self, exc: Exception) -> NetworkError:
        """No answer at all; `oci://` to this machine is most often a plain-HTTP test registry spoken to in TLS."""
        hint = "check the registry address and the network"
        if self.ref.scheme == "https" and is_loopback(self.ref.host):
            hint = (
                f"oci:// speaks HTTPS; a registry on this machine without TLS (such as `registry:2`) "
                f"is addressed as http://{self.ref.host}/{self.ref.namespace}"
            )
        return NetworkError(f"cannot reach the registry {self.ref.host}: {type(exc).__name__}", hint=hint)

    def ping(self) -> None:
        """`GET /v2/`: the registry speaks the API; a 401 tells how it wants us to authenticate."""
        if self._pinged:
            return
        response = self._send("GET", "/v2/", scope=None, authenticate=False)
        if response.status_code == 401:
            self._challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
            if self._challenge is None:
                raise AuthError(
                    f"{self.ref.host} wants authentication modellock does not speak",
                    hint="the registry must offer Bearer or Basic auth (`WWW-Authenticate`)",
                )
        elif response.status_code != 200:
            raise RegistryError(
                f"{self.ref.base_url}/v2/ answered HTTP {response.status_code}: not an OCI registry",
                hint="check the registry address",
            )
        self._pinged = True

    def auth_headers(self, name: str, *, push: bool = False) -> dict[str, str]:
        """The `Authorization` header for a repository (empty for an anonymous registry); never logged."""
        self.ping()
        challenge = self._challenge
        if challenge is None:
            return {}
        if challenge.scheme == "basic":
            if self._credentials is None:
                raise self._no_credentials()
            return {"Authorization": self._credentials.basic()}
        scope = _pull_push(name, push)
        if scope not in self._tokens:
            self._tokens[scope] = self._token(challenge, scope)
        return {"Authorization": f"Bearer {self._tokens[scope]}"}

    def forget_token(self, name: str, push: bool = False) -> None:
        """Drop a token the registry no longer takes (it expired), so the next call asks for a new one."""
        self._tokens.pop(_pull_push(name, push), None)

    def _token(self, challenge: Challenge, scope: str) -> str:
        realm = challenge.params.get("realm", "")
        try:
            parts = urlsplit(realm)
            realm_host = parts.netloc.rsplit("@", 1)[-1]
        except ValueError:
            raise AuthError(
                f"{self.ref.host} sends us for a token to an unusable address",
                hint="the registry's `WWW-Authenticate` realm is malformed",
            ) from None
        # The credentials go to the realm (as Docker sends them, e.g. to auth.docker.io): over https, or
        # plain http only to a loopback realm of a loopback registry, never in the clear across a network.
        plain_ok = parts.scheme == "http" and self.ref.scheme == "http" and realm_host and is_loopback(realm_host)
        if parts.scheme != "https" and not plain_ok:
            raise AuthError(
                f"{self.ref.host} sends us for a token to {parts.scheme or 'no'}:// realm"
                + (f" on {realm_host}" if realm_host else ""),
                hint="a token realm must be https (plain http only on a loopback test registry's own machine)",
            )
        query = {"scope": scope, **({"service": challenge.params["service"]} if "service" in challenge.params else {})}
        headers = {"Authorization": self._credentials.basic()} if self._credentials is not None else {}
        try:
            with self.client.stream("GET", f"{realm}?{urlencode(query)}", headers=headers) as response:
                body = _read_capped(response, MAX_TOKEN)
        except httpx2.TransportError as exc:
            raise NetworkError(f"cannot reach {parts.netloc} for a registry token: {type(exc).__name__}") from None
        if response.status_code in (401, 403):
            raise self._refused_credentials() if self._credentials is not None else self._no_credentials()
        if response.status_code != 200:
            raise AuthError(f"{parts.netloc} answered HTTP {response.status_code} to a token request")
        try:
            data = jsonread.loads(body, f"the token answer of {parts.netloc}")
            token = data.get("token") or data.get("access_token")
        except jsonread.MalformedJSON as exc:
            raise AuthError(f"{exc.message}: no usable token") from None
        except AttributeError:
            token = None
        if not isinstance(token, str) or not token or not all(33 <= ord(c) < 127 for c in token):
            raise AuthError(f"{parts.netloc} answered a token request with no usable token")
        return token

    def _no_credentials(self) -> AuthError:
        return AuthError(
            f"{self.ref.host} requires credentials and none were found",
            hint="run `docker login` (or set MODELLOCK_REGISTRY_USERNAME and MODELLOCK_REGISTRY_PASSWORD)",
        )

    def _refused_credentials(self) -> AuthError:
        origin = self._credentials.origin if self._credentials is not None else ""
        return AuthError(
            f"{self.ref.host} refused the credentials" + (f" from {origin}" if origin else ""),
            hint="check the user name and password (`docker login`); they were not printed",
        )

    # -- requests ---------------------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.ref.base_url}{path}"

    def _send(
        self,
        method: str,
        path_or_url: str,
        *,
        scope: tuple[str, bool] | None,
        authenticate: bool = True,
        headers: dict[str, str] | None = None,
        content: bytes | Iterator[bytes] | None = None,
    ) -> httpx2.Response:
        url = path_or_url if "://" in path_or_url else self._url(path_or_url)
        all_headers = dict(headers or {})
        if authenticate and scope is not None:
            all_headers.update(self.auth_headers(scope[0], push=scope[1]))
        try:
            request = self.client.build_request(method, url, headers=all_headers, content=content)
            streamed = self.client.send(request, stream=True)
            try:
                # These answers carry headers and at most an error document: a hostile registry's
                # endless body is cut, never held.
                body = _read_upto(streamed, MAX_ANSWER)
            finally:
                streamed.close()
        except httpx2.TransportError as exc:
            raise self._unreachable(exc) from None
        except (httpx2.InvalidURL, httpx2.UnsupportedProtocol, ValueError) as exc:
            raise RegistryError(
                f"the registry {self.ref.host} sent an unusable address ({type(exc).__name__})",
                hint="the registry (or a proxy in front of it) is misconfigured",
            ) from None
        response = httpx2.Response(
            streamed.status_code, headers=_plain(streamed.headers), content=body, request=request
        )
        if response.status_code == 401 and authenticate and scope is not None and self._challenge is None:
            # The registry let the ping through anonymously but wants credentials here (push-only auth).
            self._challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
            if self._challenge is not None and not isinstance(content, Iterator):
                return self._send(method, url, scope=scope, headers=headers, content=content)
        if response.status_code == 401 and authenticate and scope is not None:
            if self._challenge is not None and self._challenge.scheme == "bearer" and scope[0]:
                self.forget_token(*scope)
            raise self._refused_credentials() if self._credentials is not None else self._no_credentials()
        if response.status_code == 403:
            raise AuthError(
                f"{self.ref.host} denies access to {scope[0] if scope else url}",
                hint="the credentials lack permission for this repository",
            )
        return response

    def _same_origin(self, location: str) -> str:
        try:
            url = urljoin(self._url("/"), location)
            same = urlsplit(url)[:2] == urlsplit(self.ref.base_url)[:2]
        except ValueError:
            raise RegistryError(
                f"{self.ref.host} sent an unusable upload address",
                hint="the registry (or a proxy in front of it) is misconfigured",
            ) from None
        if not same:
            raise RegistryError(
                f"{self.ref.host} sent an upload to another origin ({urlsplit(url).netloc})",
                hint="modellock uploads only to the registry's own origin, where the credentials belong",
            )
        return url

    # -- blobs ------------------------------------------------------------------------------------------------
    def blob_url(self, name: str, digest: str) -> str:
        return self._url(f"/v2/{name}/blobs/{digest}")

    def has_blob(self, name: str, digest: str, size: int, *, push: bool = False) -> bool:
        response = self._send("HEAD", f"/v2/{name}/blobs/{digest}", scope=(name, push))
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise RegistryError(f"{self.ref.host}: HEAD of blob {digest[:19]}… answered HTTP {response.status_code}")
        # Only an answer that names the size counts: a registry that says 200 to anything would
        # otherwise be skipped every blob and hold none of them.
        return response.headers.get("Content-Length") == str(size)

    def mount(self, name: str, digest: str, source: str) -> str | None:
        """Mount a blob `source` holds into `name`; None if done, else the upload URL the registry opened."""
        query = urlencode({"mount": digest, "from": source})
        response = self._send("POST", f"/v2/{name}/blobs/uploads/?{query}", scope=(name, True))
        if response.status_code == 201:
            return None
        return self._upload_location(response, name)

    def start_upload(self, name: str) -> str:
        return self._upload_location(self._send("POST", f"/v2/{name}/blobs/uploads/", scope=(name, True)), name)

    def _upload_location(self, response: httpx2.Response, name: str) -> str:
        if response.status_code != 202 or "Location" not in response.headers:
            raise RegistryError(
                f"{self.ref.host} would not start an upload to {name} (HTTP {response.status_code})",
                hint="check that the credentials may push to this repository",
            )
        return self._same_origin(response.headers["Location"])

    def upload(self, name: str, digest: str, size: int, path: Path, location: str | None = None) -> None:
        """Upload a file as one blob, streamed in chunks (never whole in memory); the registry re-hashes it."""
        url = self._same_origin(location or self.start_upload(name))
        url += ("&" if "?" in url else "?") + urlencode({"digest": digest})

        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as f:
                while chunk := f.read(UPLOAD_CHUNK):
                    yield chunk

        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        response = self._send("PUT", url, scope=(name, True), headers=headers, content=chunks())
        if response.status_code != 201:
            raise RegistryError(
                f"{self.ref.host} refused blob {digest[:19]}… for {name} (HTTP {response.status_code}"
                f"{_error_code(response)})"
            )

    def upload_bytes(self, name: str, digest: str, data: bytes) -> None:
        url = self._same_origin(self.start_upload(name))
        url += ("&" if "?" in url else "?") + urlencode({"digest": digest})
        headers = {"Content-Type": "application/octet-stream"}
        response = self._send("PUT", url, scope=(name, True), headers=headers, content=data)
        if response.status_code != 201:
            raise RegistryError(f"{self.ref.host} refused blob {digest[:19]}… for {name} (HTTP {response.status_code})")

    # -- manifests --------------------------------------------------------------------------------------------
    def put_manifest(self, name: str, reference: str, data: bytes, media_type: str) -> None:
        response = self._send(
            "PUT", f"/v2/{name}/manifests/{reference}", scope=(name, True), headers={"Content-Type": media_type},
            content=data,
        )  # fmt: skip
        if response.status_code != 201:
            raise RegistryError(
                f"{self.ref.host} refused the manifest {name}:{reference} (HTTP {response.status_code}"
                f"{_error_code(response)})"
            )
        said = response.headers.get("Docker-Content-Digest")
        ours = "sha256:" + hashlib.sha256(data).hexdigest()
        if said is not None and said != ours:
            raise RegistryError(f"{self.ref.host} stored manifest {name}:{reference} as {said}, not {ours}")

    def has_manifest(self, name: str, digest: str, *, push: bool = False) -> bool:
        headers = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
        response = self._send("HEAD", f"/v2/{name}/manifests/{digest}", scope=(name, push), headers=headers)
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise RegistryError(f"{self.ref.host}: HEAD of manifest {name}@{digest[:19]}… answered HTTP "
                                f"{response.status_code}")  # fmt: skip
        return True

    def get_manifest(self, name: str, digest: str) -> bytes:
        """The manifest with this digest, hashed here: a registry cannot substitute another."""
        headers = {"Accept": "application/vnd.oci.image.manifest.v1+json", **self.auth_headers(name)}
        try:
            with self.client.stream("GET", self._url(f"/v2/{name}/manifests/{digest}"), headers=headers) as response:
                if response.status_code == 404:
                    raise NotInRegistry(f"{self.ref} has no {name}@{digest[:19]}…")
                if response.status_code in (401, 403):
                    raise self._refused_credentials() if self._credentials is not None else self._no_credentials()
                if response.status_code != 200:
                    raise RegistryError(
                        f"{self.ref.host} answered HTTP {response.status_code} for {name}@{digest[:19]}…"
                    )
                body = _read_capped(response, MAX_MANIFEST)
        except httpx2.TransportError as exc:
            raise self._unreachable(exc) from None
        got = "sha256:" + hashlib.sha256(body).hexdigest()
        if got != digest:
            from modellock.errors import IntegrityError

            raise IntegrityError(
                f"{self.ref.host} answered {name}@{digest[:19]}… with a manifest hashing to {got[:19]}…",
                hint="the registry (or a proxy) serves other bytes than the lock names; nothing was installed",
                path=f"{name}@{digest}",
                expected=digest,
                actual=got,
            )
        return body

    def close(self) -> None:
        self.client.close()


def _read_capped(response: httpx2.Response, limit: int) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise RegistryError(f"the registry's answer is larger than {limit} bytes")
    return bytes(body)


def _read_upto(response: httpx2.Response, limit: int) -> bytes:
    """The first `limit` bytes of a body; the rest is not read."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk[: limit - len(body)]
        if len(body) >= limit:
            break
    return bytes(body)


def _plain(headers: httpx2.Headers) -> list[tuple[str, str]]:
    """Headers for a response rebuilt from a body already decoded (its encodings no longer apply; its
    length stays: a HEAD's `Content-Length` is the blob's size)."""
    dropped = ("content-encoding", "transfer-encoding")
    return [(k, v) for k, v in headers.multi_items() if k.lower() not in dropped]


def _error_code(response: httpx2.Response) -> str:
    """`: CODE` from the distribution API's error body, for messages (never echoes anything else)."""
    try:
        code = jsonread.loads(response.read()[:65536], "an error document")["errors"][0]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        return ""
    return f": {code}" if isinstance(code, str) and code.isupper() and len(code) < 40 else ""
