"""One file's origin: the redirect it resolves to (reused by every range), and fresh locations when one expires."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from modellock.download.location import Location
from modellock.download.reads import headers_within
from modellock.errors import NetworkError, SourceError

if TYPE_CHECKING:
    import httpx2

MAX_REDIRECTS = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# What a signed CDN URL answers once its signature has expired (S3: 403; some CDNs 400/404/410).
_EXPIRED = frozenset({400, 401, 403, 404, 410})
_PORTS = {"http": 80, "https": 443}
_ERROR_BODY = 64 * 1024
# Fresh redirects one request may ask for in a row before a refusing target is an error.
_EXPIRIES = 3


def origin_of(url: httpx2.URL) -> tuple[str, str, int]:
    return (url.scheme, (url.host or "").lower(), url.port or _PORTS.get(url.scheme, 0))


class Retryable(Exception):
    """A failure worth another attempt of the same request (a 5xx, 429 or 408; a stalled body)."""


class Origin:
    """Where one file's requests go; the redirect is followed once and its target shared by every range.

    Requests follow redirects here, not in the client, so that headers (a token) go to the
    location's own origin only, and so that an expired redirect target is noticed and resolved
    again from the origin instead of failing the download.
    """

    def __init__(self, locate: Callable[[], Location], what: str) -> None:
        self._locate = locate
        self._what = what
        self._location = locate()
        self._resolved: str | None = None
        self._relocated = False
        self._mutex = threading.Lock()
        self._refresh = threading.RLock()

    @property
    def client(self) -> httpx2.Client:
        if self._location.client is not None:
            return self._location.client
        from huggingface_hub import get_session

        return get_session()

    @contextmanager
    def get(
        self, headers: dict[str, str], timeout: httpx2.Timeout, *, headers_within: float
    ) -> Iterator[httpx2.Response]:
        """A streamed GET of the file (redirects followed, expiries handled); error statuses raised.

        Each answer's headers must arrive within `headers_within` seconds of its request."""
        response = self._answer(headers, timeout, headers_within)
        try:
            yield response
        finally:
            response.close()

    def _answer(
        self,
        headers: dict[str, str],
        timeout: httpx2.Timeout,
        deadline: float,
        expired: int = 0,
        *,
        from_origin: bool = False,
    ) -> httpx2.Response:
        import httpx2

        with self._mutex:
            location = self._location
            url = location.url if from_origin else self._resolved or location.url
        home = origin_of(httpx2.URL(location.url))
        for _ in range(MAX_REDIRECTS + 1):
            try:
                target = httpx2.URL(url)
                sent = {**headers, **location.headers} if origin_of(target) == home else dict(headers)
                request = self.client.build_request("GET", target, headers=sent, timeout=timeout)
            except (httpx2.InvalidURL, httpx2.UnsupportedProtocol, ValueError) as exc:
                raise self._unusable(exc) from None
            with headers_within(deadline):
                response = self.client.send(request, stream=True, follow_redirects=False)
            status = response.status_code
            if status in _REDIRECTS and "location" in response.headers:
                response.close()
                try:
                    url = str(target.join(response.headers["location"]))
                except (httpx2.InvalidURL, ValueError) as exc:
                    raise self._unusable(exc) from None
                continue
            if status < 400:
                if url != location.url:
                    with self._mutex:
                        self._resolved = url
                return response
            if url != location.url and status in _EXPIRED and expired < _EXPIRIES:
                # The redirect target expired (signed URLs do): resolve it again from the origin, once
                # for all connections (the others wait here, then take the new target).
                response.close()
                with self._refresh:
                    with self._mutex:
                        refreshed = self._resolved not in (None, url)
                    # Another connection resolved it while this one waited: take its target.
                    return self._answer(headers, timeout, deadline, expired + 1, from_origin=not refreshed)
            if status in (408, 429) or status >= 500:
                response.close()
                raise Retryable(f"HTTP {status}")
            if status == 401 and url == location.url and self._relocate():
                response.close()
                return self._answer(headers, timeout, deadline)
            raise self._refusal(response, location, url)
        raise NetworkError(
            f"could not download {self._what}: the server redirects in a loop",
            hint="the endpoint (or a proxy in front of it) is misconfigured; check HF_ENDPOINT",
        )

    def _unusable(self, exc: Exception) -> SourceError:
        return SourceError(
            f"could not download {self._what}: the server sent an unusable address ({exc})",
            hint="the endpoint (or a proxy in front of it) is misconfigured; check HF_ENDPOINT",
        )

    def _relocate(self) -> bool:
        """Ask the source once more (a token may have expired); False if that was done already."""
        with self._mutex:
            if self._relocated:
                return False
            self._relocated = True
        fresh = self._locate()
        with self._mutex:
            self._location, self._resolved = fresh, None
        return True

    def _refusal(self, response: httpx2.Response, location: Location, url: str) -> Exception:
        import httpx2

        # The first 64 KiB of an error body are enough for any message; a hostile server's endless
        # one is never held in memory.
        body = bytearray()
        try:
            for chunk in response.iter_raw():
                body += chunk[: _ERROR_BODY - len(body)]
                if len(body) >= _ERROR_BODY:
                    break
        except httpx2.HTTPError:
            pass
        finally:
            response.close()
        headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")
        }
        read = httpx2.Response(response.status_code, headers=headers, content=bytes(body), request=response.request)
        if url == location.url and location.refused is not None:
            return location.refused(read)

        where = "the server" if url == location.url else f"{httpx2.URL(url).host} (redirected to)"
        return SourceError(f"could not download {self._what}: {where} answered HTTP {response.status_code}")
