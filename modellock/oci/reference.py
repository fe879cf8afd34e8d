"""Where a registry is (`oci://HOST/NAMESPACE[/PREFIX]`) and the repository each locked model goes to."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from modellock.errors import UsageError

# The OCI distribution spec's repository name and tag grammars.
_COMPONENT = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*\Z")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}\Z")
_HOST = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?\Z")
HINT = (
    "write the registry as oci://HOST[:PORT]/NAMESPACE (https), "
    "or http://127.0.0.1:PORT/NAMESPACE for a loopback test registry"
)


@dataclass(frozen=True)
class RegistryRef:
    """A registry and the namespace under which modellock keeps models."""

    scheme: str
    """`https`, or `http` for a loopback registry written as `http://`."""
    host: str
    """`host[:port]`, as credentials are keyed in Docker's config.json."""
    namespace: str
    """Repository path prefix, e.g. `ml/models`."""

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def __str__(self) -> str:
        return f"oci://{self.host}/{self.namespace}" if self.scheme == "https" else f"{self.base_url}/{self.namespace}"

    def repository(self, repo: str, repo_type: str = "model") -> str:
        """The repository name for a Hub repository: `NAMESPACE/[datasets/]org/name`, lower-cased."""
        parts = [
            *self.namespace.split("/"),
            *(["datasets"] if repo_type == "dataset" else []),
            *repo.lower().split("/"),
        ]
        bad = [p for p in parts if not _COMPONENT.match(p)]
        if bad:
            raise UsageError(
                f"{repo} cannot be named in an OCI registry: {bad[0]!r} is not a valid repository name component",
                hint="OCI repository names are lower-case letters and digits joined by `.`, `_`, `__` or `-`",
            )
        name = "/".join(parts)
        if len(self.host) + 1 + len(name) > 255:
            raise UsageError(f"the repository name for {repo} is longer than 255 characters", hint=HINT)
        return name


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1 : host.index("]")]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_registry(text: str) -> RegistryRef:
    """`oci://HOST/NAMESPACE` (https) or `http://LOOPBACK/NAMESPACE`; anything else is a usage error."""
    found = re.match(r"^(oci|http)://([^/]+)/(.+?)/*$", text.strip())
    if not found:
        raise UsageError(f"not a registry address: {text!r}", hint=HINT)
    kind, host, namespace = found.groups()
    if not _HOST.match(host) or "@" in host:
        raise UsageError(f"not a registry host: {host!r}", hint=HINT)
    if kind == "http" and not is_loopback(host):
        raise UsageError(
            f"refusing plain HTTP to {host}: only a loopback registry may be reached without TLS",
            hint="use oci://HOST/NAMESPACE (https)",
        )
    for part in namespace.split("/"):
        if not _COMPONENT.match(part):
            raise UsageError(f"not a valid OCI namespace: {namespace!r}", hint=HINT)
    return RegistryRef("https" if kind == "oci" else "http", host.lower(), namespace)


def valid_tag(tag: str) -> bool:
    return bool(_TAG.match(tag))
