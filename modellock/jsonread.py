"""JSON from outside (servers, files on disk, other programs), read with bounds: one typed error for all of it.

`json.loads` recurses once per nested array or object: 200,000 `[` are a RecursionError, and a
document just under the interpreter's limit parses, then breaks whatever walks it next (a
dataclass, `json.dumps`, a copy). Nothing modellock reads nests more than a few levels, so deeper
input is refused here, where its origin is known, and never reaches the code behind.
"""

from __future__ import annotations

import json
from typing import Any

from modellock.errors import ModellockError

MAX_DEPTH = 64
"""Arrays and objects nested deeper than this are refused (the same bound as for TOML)."""


class MalformedJSON(ModellockError, ValueError):
    """JSON that cannot be read: not JSON, not UTF-8, or nested too deep. A ValueError too, so a caller
    that already treats bad JSON as absent keeps doing so."""

    def __init__(self, message: str, *, too_deep: bool, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.too_deep = too_deep


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays and objects in `value` nest deeper than `limit` (a scalar is depth 0, `[]` depth 1)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def loads(data: bytes | str, what: str, *, hint: str | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """`data` parsed, or MalformedJSON naming `what` (e.g. "the token answer of auth.example"), never echoing it."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise MalformedJSON(f"{what} is JSON nested deeper than {max_depth} levels", too_deep=True, hint=hint) from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError; their text has positions, not content
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise MalformedJSON(f"{what} is not JSON ({detail})", too_deep=False, hint=hint) from None
    if depth_exceeds(value, max_depth):
        raise MalformedJSON(f"{what} is JSON nested deeper than {max_depth} levels", too_deep=True, hint=hint)
    return value
