"""Every failure a user can see: a message they can act on, an optional hint, an exit code.

These classes are part of the public API (re-exported from `modellock`): a deploy script catches
them by type and reads their facts (`facts()`: the model, file, digests... as data) instead of
parsing the English message. Messages may change; class names, `exit_code` and fact keys may not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CHECK_FAILED = 1
USAGE = 2


class ModellockError(Exception):
    """Base of all modellock errors; `exit_code` follows the documented contract."""

    exit_code = USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def facts(self) -> dict[str, Any]:
        """What failed, as data (JSON-serialisable): what `--format json` carries beside the message."""
        return {}


class UsageError(ModellockError):
    """The command line asked for something impossible."""


class ConfigError(ModellockError):
    """A manifest or lock that cannot be read; names the file and, where known, the line."""

    def __init__(self, message: str, *, file: str, line: int | None = None, hint: str | None = None) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {message}", hint=hint)
        self.file = file
        self.line = line

    def facts(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line}


class SourceError(ModellockError):
    """The model source could not give us what the manifest asks for."""


class RepoNotFound(SourceError):
    """The repository does not exist, or is private and the token cannot see it."""


class RevisionNotFound(SourceError):
    """The branch, tag or commit does not exist in the repository."""


class GatedRepo(SourceError):
    """The repository is gated and the token (if any) has no access."""


class NetworkError(SourceError):
    """The source could not be reached, or kept failing after retries."""


HUB_UNREACHABLE_HINT = (
    "check the network; for a mirror set HF_ENDPOINT, behind a proxy set HTTPS_PROXY; "
    "or pass --offline to use only what the store already holds"
)


class UnsupportedDependency(ModellockError):
    """An installed dependency is outside the release range whose private parts modellock was tested
    with (`modellock/compat.py`): refused rather than run on guesses."""

    def __init__(self, package: str, installed: str, supported: str) -> None:
        super().__init__(
            f"{package} {installed} is installed; modellock supports {package}{supported}",
            hint=f"install a supported release: pip install '{package}{supported}'",
        )
        self.package = package
        self.installed = installed
        self.supported = supported

    def facts(self) -> dict[str, Any]:
        return {"package": self.package, "installed": self.installed, "supported": self.supported}


class Interrupted(ModellockError):
    """Ctrl-C or SIGTERM stopped the run; says what was kept for the next one."""

    exit_code = 130


class CheckFailed(ModellockError):
    """A check ran and found a problem: stale lock, digest mismatch, refused content."""

    exit_code = CHECK_FAILED


class LockTampered(CheckFailed):
    """The lock's text is not what modellock wrote: a seal or the canonical form does not hold."""


class IntegrityError(CheckFailed):
    """Bytes did not match the digest or size they must have."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        model: str | None = None,
        path: str | None = None,
        expected: str | None = None,
        actual: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.model = model
        """The manifest entry (or, while downloading, the repository) the bytes belong to."""
        self.path = path
        """The file's path in its repository."""
        self.expected = expected
        """The digest (`blake3:…`, `sha256:…`) or size the bytes must have."""
        self.actual = actual
        """What the bytes have."""

    def facts(self) -> dict[str, Any]:
        return {"model": self.model, "path": self.path, "expected": self.expected, "actual": self.actual}


class SignatureError(CheckFailed):
    """A signature is missing where the policy requires one, or does not verify."""

    def __init__(self, message: str, *, hint: str | None = None, model: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.model = model

    def facts(self) -> dict[str, Any]:
        return {"model": self.model}


class PolicyRefusal(CheckFailed):
    """Files the manifest's policy (the safety gate, the Hub's scan flags) does not allow."""

    def __init__(
        self, message: str, *, hint: str | None = None, model: str | None = None, files: Sequence[str] = ()
    ) -> None:
        super().__init__(message, hint=hint)
        self.model = model
        self.files = tuple(files)
        """The refused files' paths."""

    def facts(self) -> dict[str, Any]:
        return {"model": self.model, "files": list(self.files)}


class StaleLock(CheckFailed):
    """The lock does not match the manifest (or was edited), and this run may not re-lock."""

    def __init__(
        self, message: str, *, hint: str | None = None, problems: Sequence[tuple[str | None, str]] = ()
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = tuple(problems)
        """(model or None, why) for each disagreement."""

    def facts(self) -> dict[str, Any]:
        return {"problems": [{"model": model, "message": why} for model, why in self.problems]}


class UnsafePath(CheckFailed):
    """A repository path that could escape its target directory or collide with another."""
