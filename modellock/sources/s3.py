"""Models in S3-compatible object stores (AWS S3, MinIO, Ceph, R2): each object pinned by version or ETag.

botocore finds the endpoint and credentials the way AWS's own tools do (environment, shared
config and credentials files, profiles, instance roles), imported only when an S3 model is
touched (it costs a few hundred milliseconds). It lists and signs; the bytes come through the
download engine from presigned URLs (ranges, retries, resume), with `If-Match` on the locked ETag
so a replaced object is refused by the server itself, and our own digests judge the bytes after.
Credentials stay inside botocore: no URL, header or key reaches the lock, a log or a message.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modellock.download.location import Location
from modellock.errors import CheckFailed, IntegrityError, ModellockError, NetworkError
from modellock.project.lockfile import LockedModel
from modellock.project.origins import pin_problem, split_s3
from modellock.sources.interface import HttpSource, RemoteFile, RepoRef
from modellock.sources.pinned import PinnedSource, Proof, Selects, listing_name, selection_problems

if TYPE_CHECKING:
    import httpx2

MAX_OBJECTS = 100_000
PRESIGN_SECONDS = 3600
_ENDPOINT_ENV = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


class _NoVersions(Exception):
    """The store will not list versions to us: list the latest objects instead."""


@dataclass(frozen=True)
class S3Object:
    """One object under the prefix as the store lists it (claims; the bytes are hashed by us)."""

    path: str
    size: int
    version_id: str
    """Empty where the bucket keeps no versions (S3 says `null`)."""
    etag: str
    """Without its quotes."""

    def record(self) -> str:
        return f"{self.path}\0{self.size}\0{self.version_id}\0{self.etag}"


def _describe(exc: Exception) -> str:
    """A botocore failure in words that carry no credentials: the error code and HTTP status only."""
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", "")) or type(exc).__name__
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return f"{code[:60]}" + (f" (HTTP {status})" if status else "")


class S3Source(PinnedSource, HttpSource):
    """Objects under `s3://BUCKET/PREFIX/`, one model per prefix."""

    name = "s3"

    def __init__(self, endpoint: str | None = None) -> None:
        self._setting = endpoint
        self._client: Any = None
        self._http_client: httpx2.Client | None = None
        self._endpoint: str | None = None
        self._lock = threading.Lock()
        self._listed: dict[tuple[str, str], list[S3Object]] = {}

    @property
    def location(self) -> str:
        self.client()
        return f"S3 at {self._endpoint or 'AWS'}"

    def client(self) -> Any:
        """The botocore client, made once: unsigned where no credentials are configured (public buckets)."""
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        import botocore.session
        from botocore import UNSIGNED
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError

        session = botocore.session.get_session()
        try:
            credentials = session.get_credentials()
            profile_endpoint = session.get_scoped_config().get("endpoint_url")
            region = session.get_config_variable("region") or "us-east-1"
        except (BotoCoreError, OSError, ValueError) as exc:  # a missing profile, an unreadable config: the user's
            raise NetworkError(
                f"cannot read the AWS configuration: {_describe(exc)}", hint="check AWS_PROFILE and ~/.aws/config"
            ) from None
        # AWS's own settings win (the person running the command chose them); the manifest's is a default.
        chosen = None if profile_endpoint or any(os.environ.get(v) for v in _ENDPOINT_ENV) else self._setting
        config = Config(
            signature_version=UNSIGNED if credentials is None else "s3v4",
            connect_timeout=10,
            read_timeout=60,
            retries={"mode": "standard", "max_attempts": 4},
            s3={"addressing_style": "path"} if (chosen or profile_endpoint) else {},
        )
        client = session.create_client("s3", region_name=region, endpoint_url=chosen, config=config)
        self._endpoint = client.meta.endpoint_url
        return client

    def _call(self, what: str, call: Any, **params: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

        try:
            return call(**params)
        except EndpointConnectionError:
            raise NetworkError(
                f"cannot reach the S3 endpoint {self._endpoint} to {what}",
                hint="check AWS_ENDPOINT_URL or `[settings] s3-endpoint`",
            ) from None
        except ClientError as exc:
            raise CheckFailed(
                f"S3 refused to {what}: {_describe(exc)}",
                hint="check the bucket, the prefix and the AWS credentials (they were not printed)",
            ) from None
        except BotoCoreError as exc:
            raise NetworkError(f"S3 request to {what} failed: {_describe(exc)}") from None

    def _listing(self, ref: RepoRef) -> list[S3Object]:
        bucket, prefix = split_s3(ref.repo)
        where = f"list s3://{ref.repo}"
        try:
            raw = self._call(where, self._versions, bucket=bucket, prefix=prefix)
        except _NoVersions:
            raw = self._call(where, self._latest, bucket=bucket, prefix=prefix)
        return self._objects(ref, prefix, raw)

    def _versions(self, bucket: str, prefix: str) -> list[tuple[Any, Any, Any, Any]]:
        """The latest version of every key (a key whose latest is a delete marker is gone)."""
        from botocore.exceptions import ClientError

        try:
            pages = self.client().get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
            return [
                (v.get("Key"), v.get("Size"), v.get("VersionId"), v.get("ETag"))
                for page in pages
                for v in page.get("Versions", [])
                if v.get("IsLatest")
            ]
        except ClientError as exc:
            # Versions need s3:ListBucketVersions, and some stores lack the call: then ETags pin alone.
            if _describe(exc).split(" ")[0] in ("AccessDenied", "NotImplemented", "MethodNotAllowed"):
                raise _NoVersions from None
            raise

    def _latest(self, bucket: str, prefix: str) -> list[tuple[Any, Any, Any, Any]]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [(o.get("Key"), o.get("Size"), None, o.get("ETag")) for page in pages for o in page.get("Contents", [])]

    def _objects(self, ref: RepoRef, prefix: str, raw: list[tuple[Any, Any, Any, Any]]) -> list[S3Object]:
        """The listing, checked: a store's answer is hostile input like any other."""
        found: dict[str, S3Object] = {}
        for key, size, version, etag in raw:
            if not isinstance(key, str) or not key.startswith(prefix) or not isinstance(size, int) or size < 0:
                raise CheckFailed(f"s3://{ref.repo}: the store listed an object outside the prefix or without a size")
            if key.endswith("/") and size == 0:
                continue  # a "folder" marker some tools write
            version_id = "" if version in (None, "null") else str(version)
            tag = str(etag or "").strip('"')
            problem = pin_problem(version_id, tag)
            if problem:
                raise CheckFailed(f"s3://{ref.repo}: {key[len(prefix) :][:200]!r}: {problem}")
            found[key] = S3Object(key[len(prefix) :], size, version_id, tag)
            if len(found) > MAX_OBJECTS:
                raise CheckFailed(f"s3://{ref.repo} holds more than {MAX_OBJECTS} objects: is it one model's prefix?")
        if not found:
            raise CheckFailed(f"s3://{ref.repo} holds no objects", hint="check the bucket and the prefix")
        return sorted(found.values(), key=lambda o: o.path)

    def resolve(self, ref: RepoRef, revision: str) -> str:
        objects = self._listing(ref)
        name = listing_name(o.record() for o in objects)
        self._listed[(ref.repo, name)] = objects
        return name

    def list_files(self, ref: RepoRef, commit: str, *, scans: bool = False) -> list[RemoteFile]:
        objects = self._listed.get((ref.repo, commit))
        if objects is None:
            objects = self._listing(ref)
            if listing_name(o.record() for o in objects) != commit:
                raise CheckFailed(
                    f"the objects under s3://{ref.repo} changed since they were locked",
                    hint="lock what the prefix holds now: `modellock lock --upgrade` (or --upgrade-model NAME)",
                )
        # No content digest is listed (an ETag is not one we can check): the bytes are hashed as they land.
        return [RemoteFile(o.path, o.size, "", None, version_id=o.version_id, etag=o.etag) for o in objects]

    def locate(self, ref: RepoRef, commit: str, file: RemoteFile) -> Location:
        bucket, prefix = split_s3(ref.repo)
        params: dict[str, str] = {"Bucket": bucket, "Key": prefix + file.path}
        if file.version_id:
            params["VersionId"] = file.version_id
        url = self._call(
            f"sign a download of {file.path}",
            self.client().generate_presigned_url,
            ClientMethod="get_object",
            Params=params,
            ExpiresIn=PRESIGN_SECONDS,
        )
        # The server itself refuses an object replaced since the lock (unversioned buckets), before any byte.
        headers = {"If-Match": f'"{file.etag}"'} if file.etag else {}
        where = f"s3://{ref.repo}{file.path}" + (f" (version {file.version_id[:40]})" if file.version_id else "")

        def refused(response: httpx2.Response) -> Exception:
            status = response.status_code
            if status == 412:
                return IntegrityError(
                    f"{where} was replaced since it was locked (its ETag is no longer {file.etag})",
                    hint="nothing was stored; `modellock lock --upgrade-model NAME` locks the new object after review",
                )
            if status == 404:
                return CheckFailed(f"{where} no longer exists", hint="the locked object or version was deleted")
            if status in (401, 403):
                return CheckFailed(
                    f"S3 refused the download of {where} (HTTP {status})",
                    hint="check the AWS credentials (they were not printed)",
                )
            return NetworkError(f"S3 answered HTTP {status} for {where}")

        return Location(url, headers, self._http(), refused)

    def _http(self) -> httpx2.Client:
        """Our own connection pool: a presigned URL is a credential for an hour, kept out of other clients' logs."""
        import httpx2

        with self._lock:
            if self._http_client is None:
                timeout = httpx2.Timeout(connect=10.0, read=60.0, write=60.0, pool=60.0)
                self._http_client = httpx2.Client(timeout=timeout, follow_redirects=False)
            return self._http_client

    def prove(self, model: LockedModel, selects: Selects | None) -> Proof:
        """Each locked object at its version: its size and ETag now; and the prefix's listing against the lock."""
        bucket, prefix = split_s3(model.repo)
        problems: list[str] = []
        try:
            client = self.client()
            for locked in model.files:
                problems.extend(self._head_problems(client, bucket, prefix, model, locked))
            listed = [o.path for o in self._listing(RepoRef(model.repo))]
        except ModellockError as exc:
            return Proof([*problems, exc.message], 0)
        problems.extend(selection_problems(model, listed, selects))
        return Proof(problems, 0)

    def _head_problems(self, client: Any, bucket: str, prefix: str, model: LockedModel, locked: Any) -> list[str]:
        from botocore.exceptions import ClientError

        params = {"Bucket": bucket, "Key": prefix + locked.path}
        if locked.version_id:
            params["VersionId"] = locked.version_id
        where = f"s3://{model.repo}{locked.path}" + (
            f" (version {locked.version_id[:40]})" if locked.version_id else ""
        )
        try:
            head = client.head_object(**params)
        except ClientError as exc:
            code = _describe(exc)
            if code.startswith(("404", "NoSuchKey", "NoSuchVersion", "NotFound")) or "HTTP 404" in code:
                return [f"{where} no longer exists"]
            raise CheckFailed(f"S3 refused to read {where}: {code}", hint="check the AWS credentials") from None
        size, etag = head.get("ContentLength"), str(head.get("ETag", "")).strip('"')
        found = []
        if size != locked.size:
            found.append(f"{where} is {size} bytes, the lock says {locked.size}")
        if locked.etag and etag != locked.etag:
            found.append(f"{where} has ETag {etag[:60]}, the lock says {locked.etag}: it was replaced")
        return found
