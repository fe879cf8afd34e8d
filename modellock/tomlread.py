"""Read TOML with the standard library parser (tomli before 3.11): fast, and positions in its errors."""

from __future__ import annotations

import re
import sys
from typing import Any

from modellock.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, no-redef]


def parse(text: str, file: str) -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes a ConfigError naming the file and line."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
        return data
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column \d+\)", message)
        line = int(found.group(1)) if found else None
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", message).strip()
        message = message[:1].lower() + message[1:]
        raise ConfigError(f"invalid TOML: {message}", file=file, line=line) from None
