"""Registry credentials (environment, Docker's config.json, credential helpers) and auth challenges.

Nothing here prints or raises with a secret in it: errors name where a credential came from, never it.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from modellock import jsonread
from modellock.errors import ConfigError

USER_ENV, PASSWORD_ENV = "MODELLOCK_REGISTRY_USERNAME", "MODELLOCK_REGISTRY_PASSWORD"


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or token) for one registry; `origin` says where they came from."""

    username: str
    password: str = field(repr=False)
    origin: str = ""

    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


@dataclass(frozen=True)
class Challenge:
    """A parsed `WWW-Authenticate` header."""

    scheme: str
    """`bearer` or `basic` (lower-cased)."""
    params: dict[str, str]


_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


def parse_challenge(header: str) -> Challenge | None:
    """`Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`; None for anything else."""
    found = re.match(r"^\s*(Bearer|Basic)\b(.*)$", header, re.IGNORECASE)
    if not found:
        return None
    params: dict[str, str] = {}
    rest = found.group(2)
    pos = 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if not m or m.end() == pos:
            break
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
        pos = m.end()
    return Challenge(found.group(1).lower(), params)


def docker_config_path() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"


_CONFIG_HINT = (
    "fix Docker's config.json (or point DOCKER_CONFIG elsewhere), or set MODELLOCK_REGISTRY_USERNAME and "
    "MODELLOCK_REGISTRY_PASSWORD"
)


def lookup(host: str, *, environment: bool = True) -> Credentials | None:
    """Credentials for `host` (`name[:port]`): the environment first (with `environment`), then Docker's
    config.json, whose entries are per host."""
    user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
    if environment and user and password is not None:
        return Credentials(user, password, f"${USER_ENV}/${PASSWORD_ENV}")
    path = docker_config_path()
    try:
        data = jsonread.loads(path.read_text(encoding="utf-8"), "Docker's config.json")
    except FileNotFoundError:
        return None
    except jsonread.MalformedJSON as exc:
        message = f"cannot read Docker's credentials: {exc.message}"
        raise ConfigError(message, file=str(path), hint=_CONFIG_HINT) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read Docker's credentials: {type(exc).__name__}", file=str(path), hint=_CONFIG_HINT
        ) from None
    if not isinstance(data, dict):
        raise ConfigError("Docker's config.json is not a JSON object", file=str(path), hint=_CONFIG_HINT)
    keys = (host, f"https://{host}", f"http://{host}", f"https://{host}/v2/", f"https://{host}/v1/")
    helpers = data.get("credHelpers")
    if isinstance(helpers, dict) and isinstance(helpers.get(host), str):
        return _from_helper(helpers[host], host)
    auths = data.get("auths")
    if isinstance(auths, dict):
        for key in keys:
            entry = auths.get(key)
            if isinstance(entry, dict):
                found = _from_entry(entry, str(path))
                if found is not None:
                    return found
    store = data.get("credsStore")
    if isinstance(store, str) and store:
        return _from_helper(store, host, missing_ok=True)
    return None


def _from_entry(entry: dict[str, object], where: str) -> Credentials | None:
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            user, _, password = base64.b64decode(auth, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(
                "an `auth` entry is not base64 of `user:password`", file=where, hint=_CONFIG_HINT
            ) from None
        return Credentials(user, password, where)
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and isinstance(secret, str):
        return Credentials(name, secret, where)
    return None


def _from_helper(helper: str, host: str, *, missing_ok: bool = False) -> Credentials | None:
    """Ask `docker-credential-HELPER get`, as docker does (server URL on stdin, JSON on stdout)."""
    name = f"docker-credential-{helper}"
    where = docker_config_path()
    if not re.match(r"^[A-Za-z0-9._-]+$", helper) or shutil.which(name) is None:
        if missing_ok:
            return None
        raise ConfigError(f"the credential helper {name} is not on PATH", file=str(where), hint=_CONFIG_HINT)
    try:
        done = subprocess.run([name, "get"], input=host.encode(), capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"{name} failed: {type(exc).__name__}", file=str(where), hint=_CONFIG_HINT) from None
    if done.returncode != 0:
        if missing_ok:
            return None
        raise ConfigError(
            f"{name} has no credentials for {host} (exit {done.returncode})", file=str(where), hint=_CONFIG_HINT
        )
    try:
        answer = jsonread.loads(done.stdout, f"the answer of {name}")
        user, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            f"{name} answered something that is not its JSON", file=str(where), hint=_CONFIG_HINT
        ) from None
    if not isinstance(user, str) or not isinstance(secret, str):
        raise ConfigError(f"{name} answered something that is not its JSON", file=str(where), hint=_CONFIG_HINT)
    return Credentials(user, secret, name)
