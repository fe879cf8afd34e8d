"""Which Sigstore trust root verifies signatures, and how we know it (never sigstore's user cache)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modellock.errors import ConfigError


@dataclass(frozen=True)
class TrustRoot:
    """A loaded trusted root, where it came from, and its digest (recorded in the lock)."""

    source: str
    """Human description: an explicit file, the TUF-updated production root, or the shipped one."""
    digest: str
    root: Any
    """sigstore.models.TrustedRoot"""

    def verifier(self) -> Any:
        from sigstore.verify import Verifier

        return Verifier(trusted_root=self.root)


def _wrap(inner: Any, source: str) -> TrustRoot:
    from sigstore.models import TrustedRoot

    canonical = inner.to_json().encode()
    return TrustRoot(source, "sha256:" + hashlib.sha256(canonical).hexdigest(), TrustedRoot(inner))


def _from_bytes(raw: bytes, source: str, file: str) -> TrustRoot:
    from sigstore_models.trustroot import v1

    try:
        return _wrap(v1.TrustedRoot.from_json(raw), source)
    except Exception as exc:  # pydantic's ValidationError or sigstore's Error: both mean unreadable
        raise ConfigError(f"not a Sigstore trusted root: {exc}".splitlines()[0], file=file) from None


def shipped_root() -> TrustRoot:
    """The production root inside the installed sigstore package: a fixed snapshot, no TUF update."""
    from importlib import metadata

    from modellock.compat import sigstore_shipped_store

    store = sigstore_shipped_store()
    raw = (store / "trusted_root.json").read_bytes()
    version = metadata.version("sigstore")
    return _from_bytes(
        raw, f"the Sigstore production root shipped with sigstore {version} (not TUF-updated)", "sigstore"
    )


def load_trust_root(explicit: Path | None, *, online: bool) -> tuple[TrustRoot, str | None]:
    """The root to verify with, and a warning when a TUF update was wanted but failed.

    An explicit file always wins (private instances, air-gapped machines, tests). Online, the
    production root is refreshed through TUF; offline, or when that fails, the shipped snapshot.
    """
    if explicit is not None:
        from modellock.project.smallfile import read_small

        try:
            raw = read_small(explicit, 16 << 20)  # a trusted root is kilobytes; /dev/zero is not one
        except OSError as exc:
            raise ConfigError(f"cannot read the trusted root: {exc.strerror}", file=str(explicit)) from None
        return _from_bytes(raw, f"the trusted root {explicit}", str(explicit)), None
    if online:
        try:
            from sigstore.models import ClientTrustConfig

            config = ClientTrustConfig.production()
            return _wrap(config.trusted_root._inner, "the Sigstore production root (TUF-updated)"), None
        except Exception as exc:  # TUFError, network errors: fall back, and say so
            root = shipped_root()
            return root, f"could not update the Sigstore trust root through TUF ({exc}); using {root.source}"
    return shipped_root(), None
