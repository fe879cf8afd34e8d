"""Find the line of a key in TOML text, so errors can say `file:line` (tomllib keeps no positions)."""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\[?\s*(.+?)\s*\]\]?\s*(?:#.*)?\Z")
_KEY = re.compile(r"""^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*=""")
_PART = re.compile(r"""\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*(?:\.|$)""")


def _split(dotted: str) -> tuple[str, ...]:
    return tuple(m.group(1).strip("\"'") for m in _PART.finditer(dotted))


def find_line(text: str, table: tuple[str, ...], key: str | None = None) -> int | None:
    """1-based line of `key` in `table` (or of the table itself); None if it cannot be found."""
    current: tuple[str, ...] = ()
    fallback = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            current = _split(header.group(1))
            if key is not None and current == (*table, key):
                return number
            if current == table and (key is None or fallback is None):
                if key is None:
                    return number
                fallback = number
            continue
        match = _KEY.match(line)
        if not match:
            continue
        full = current + _split(match.group(1))
        if key is not None and full == (*table, key):
            return number
        # `name = { ... }` inline tables and dotted keys: point at the line that opens them.
        if fallback is None and full == table[: len(full)] and len(full) > len(current):
            fallback = number
    return fallback
