"""Read TOML with the standard library parser (tomli before 3.11): fast, and positions in its errors."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from modellock.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, no-redef]


# Arrays and inline tables nested deeper than this are refused before tomllib recurses into them
# (it raises RecursionError near 1000). Real manifests and locks nest three deep.
MAX_DEPTH = 64


def _too_deep(text: str) -> int | None:
    """The line where brackets first nest deeper than MAX_DEPTH (strings are not skipped: a hint only)."""
    depth = 0
    for number, line in enumerate(text.splitlines(), start=1):
        for ch in line:
            if ch in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    return number
            elif ch in "]}":
                depth -= 1
    return None


def parse(text: str, file: str) -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes a ConfigError naming the file and line."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
        return data
    except RecursionError:
        raise ConfigError(
            f"invalid TOML: arrays or tables nested more than {MAX_DEPTH} deep",
            file=file,
            line=_too_deep(text),
            hint="modellock files nest a few levels at most; this one was not written for modellock",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column \d+\)", message)
        line = int(found.group(1)) if found else None
        if line is None and "(at end of document)" in message:
            line = len(text.rstrip("\n").split("\n"))  # the last line: where the unfinished thing is
        message = re.sub(r"\s*\(at line \d+, column \d+\)|\s*\(at end of document\)", "", message).strip()
        message = message[:1].lower() + message[1:]
        raise ConfigError(f"invalid TOML: {message}", file=file, line=line) from None


def bad_utf8(path: Path, what: str) -> ConfigError:
    """The error for a manifest or lock that is not UTF-8, naming the line of the first bad byte."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
        start = 0
    except UnicodeDecodeError as exc:
        start = exc.start
    return ConfigError(
        f"{what} is not valid UTF-8 (byte 0x{data[start]:02x} at offset {start})",
        file=str(path),
        line=data[:start].count(b"\n") + 1,
        hint="save it as UTF-8; a lock can be regenerated with `modellock lock`",
    )
