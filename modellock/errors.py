"""Every failure a user can see: a message they can act on, an optional hint, an exit code."""

from __future__ import annotations

CHECK_FAILED = 1
USAGE = 2


class ModellockError(Exception):
    """Base of all modellock errors; `exit_code` follows the documented contract."""

    exit_code = USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(ModellockError):
    """The command line asked for something impossible."""


class ConfigError(ModellockError):
    """A manifest or lock that cannot be read; names the file and, where known, the line."""

    def __init__(self, message: str, *, file: str, line: int | None = None, hint: str | None = None) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {message}", hint=hint)
        self.file = file
        self.line = line


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


class UnsafePath(CheckFailed):
    """A repository path that could escape its target directory or collide with another."""
