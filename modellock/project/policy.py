"""The policy a manifest declares and a lock records: which kinds of file a project accepts."""

from __future__ import annotations

from dataclasses import dataclass

PICKLE_MODES = ("deny", "scan", "allow")
REMOTE_CODE_MODES = ("deny", "allow")


@dataclass(frozen=True)
class Policy:
    """`[policy]`, or a model's override of it."""

    pickle: str = "deny"
    """deny: refuse pickle-based files; scan: accept those whose imports are all allowlisted; allow: accept."""
    remote_code: str = "deny"
    """deny: refuse code (`*.py`, scripts, binaries, TorchScript); allow: accept it."""
    allow_files: tuple[str, ...] = ()
    """Globs of reviewed files accepted whatever the scanner says."""

    def is_default(self) -> bool:
        return self == DEFAULT_POLICY

    def as_dict(self) -> dict[str, object]:
        return {"pickle": self.pickle, "remote-code": self.remote_code, "allow-files": list(self.allow_files)}


DEFAULT_POLICY = Policy()
