"""The lock where models are loaded: `modellock run` and the guard (docs/runtime.md).

`hooks` is the only part a guarded process imports; everything else runs in `modellock run` itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modellock.runtime.enable import guard as guard
    from modellock.runtime.hooks import LockGuardError as LockGuardError

__all__ = ["LockGuardError", "guard"]


def __getattr__(name: str) -> Any:
    # Lazy: `import modellock.runtime.hooks` from a guarded process must not pull in the lock reader.
    if name == "guard":
        from modellock.runtime.enable import guard

        return guard
    if name == "LockGuardError":
        from modellock.runtime.hooks import LockGuardError

        return LockGuardError
    raise AttributeError(name)
