"""One blob from a registry into a sink: streamed GET with `Range` resume, by the lock's digest.

Interim: until the shared download engine lands, this is the registry's byte path.
"""

from __future__ import annotations

import re

import httpx2

from modellock.errors import IntegrityError, NetworkError
from modellock.oci.client import NotInRegistry, Registry, RegistryError
from modellock.sources.interface import RemoteFile, Sink

ATTEMPTS = 3


def pull_blob(registry: Registry, name: str, digest: str, file: RemoteFile, sink: Sink) -> None:
    failure = ""
    for attempt in range(ATTEMPTS):
        if attempt:
            sink.pause(0.5 * 2 ** (attempt - 1))
        headers = {"Accept-Encoding": "identity", **registry.auth_headers(name)}
        if sink.written:
            headers["Range"] = f"bytes={sink.written}-"
        try:
            if _once(registry, name, digest, file, sink, headers):
                return
            failure = "the registry closed the connection before the blob was complete"
        except httpx2.TransportError as exc:
            failure = type(exc).__name__
    raise NetworkError(
        f"could not download {file.path} ({digest[:19]}…) from {registry.ref.host} "
        f"after {ATTEMPTS} attempts: {failure}",
        hint="check the network and run the command again; finished files are kept in the store",
    )


def _once(registry: Registry, name: str, digest: str, file: RemoteFile, sink: Sink, headers: dict[str, str]) -> bool:
    url = registry.blob_url(name, digest)
    for _ in range(5):  # redirects to blob storage, followed here so the token stays on the registry
        with registry.client.stream("GET", url, headers=headers) as response:
            if response.status_code in (301, 302, 303, 307, 308) and "Location" in response.headers:
                target = httpx2.URL(url).join(response.headers["Location"])
                if (target.scheme, target.host, target.port) != (httpx2.URL(url).scheme, httpx2.URL(url).host,
                                                                  httpx2.URL(url).port):  # fmt: skip
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                url = str(target)
                continue
            if response.status_code == 404:
                raise NotInRegistry(f"{registry.ref} has no blob {digest[:19]}… for {file.path}")
            if response.status_code in (401, 403):
                raise RegistryError(f"{registry.ref.host} refused access to {name} (HTTP {response.status_code})")
            if response.status_code >= 500 or response.status_code == 429:
                return False
            if response.status_code not in (200, 206):
                raise RegistryError(f"{registry.ref.host} answered HTTP {response.status_code} for {file.path}")
            if "Range" in headers and not _resumes_at(response, sink.written):
                sink.restart()
            for chunk in response.iter_raw():
                sink.write(chunk)
                if sink.written > file.size:
                    raise IntegrityError(
                        f"{registry.ref.host}: {file.path} is larger than the locked {file.size} bytes"
                    )
            return sink.written == file.size
    raise RegistryError(f"{registry.ref.host} redirects {file.path} in a loop")


def _resumes_at(response: httpx2.Response, offset: int) -> bool:
    found = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return response.status_code == 206 and found is not None and int(found.group(1)) == offset
