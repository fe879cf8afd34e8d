"""A fast reader for locks in canonical form: a regex per line instead of a TOML parser.

tomllib is pure Python and spends ~0.1 ms per file entry; a 10,000-file lock took over a second.
modellock writes locks in one exact layout, so a line-oriented reader can parse that layout, and
the caller accepts its result only if re-serialising it gives back the very same text. Anything
else (hand edits, merges, other formatting) returns None and goes through tomllib.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, no-redef]

_STRING = r'"(?:[^"\\\n]|\\.)*"'
_FILE = re.compile(
    rf"    \{{ path = ({_STRING}), size = (\d+), blake3 = \"([0-9a-f]{{64}})\", sha256 = \"([0-9a-f]{{64}})\""
    rf"(?:, format = ({_STRING}))?(?:, scan = ({_STRING}), scanner = ({_STRING}))?(?:, hub-scan = ({_STRING}))?"
    rf"(?:, version-id = ({_STRING}))?(?:, etag = ({_STRING}))? \}},"
)
_FIELD = re.compile(rf"([a-z][a-z0-9-]*) = ({_STRING}|\d+)")
_INLINE_TABLES = ("policy = {", "signature = {", "card = {", "bases = [")


def _decode(quoted: str) -> str:
    if "\\" not in quoted:
        return quoted[1:-1]
    # JSON's `\uD800` is a lone surrogate, which TOML refuses and no seal can encode: a ValueError here
    # sends the text to tomllib, whose error names the line.
    text = str(json.loads(quoted))
    text.encode()
    return text


def parse_canonical(text: str, header: str) -> dict[str, Any] | None:
    """The data a TOML parser would return for a canonical lock, or None if the text is not canonical."""
    if not text.startswith(header):
        return None
    lines = text[len(header) :].split("\n")
    if lines[-1] != "":
        return None
    data: dict[str, Any] = {}
    models: list[dict[str, Any]] = []
    i = 0
    try:
        for key in ("version", "revision"):
            found = _FIELD.fullmatch(lines[i])
            if not found or found.group(1) != key:
                return None
            data[key] = int(found.group(2))
            i += 1
        while i < len(lines) - 1:
            if lines[i] != "" or lines[i + 1] != "[[model]]":
                return None
            i += 2
            model: dict[str, Any] = {}
            while lines[i] != "files = [":
                line = lines[i]
                if line.startswith(_INLINE_TABLES):
                    model.update(tomllib.loads(line))
                else:
                    found = _FIELD.fullmatch(line)
                    if not found:
                        return None
                    value = found.group(2)
                    model[found.group(1)] = int(value) if value.isdigit() else _decode(value)
                i += 1
            i += 1
            files = []
            while lines[i] != "]":
                found = _FILE.fullmatch(lines[i])
                if not found:
                    return None
                path, size, b3, sha, fmt, scan, scanner, hub_scan, version_id, etag = found.groups()
                entry: dict[str, Any] = {"path": _decode(path), "size": int(size), "blake3": b3, "sha256": sha}
                if fmt is not None:
                    entry["format"] = _decode(fmt)
                if scan is not None:
                    entry["scan"], entry["scanner"] = _decode(scan), _decode(scanner)
                if hub_scan is not None:
                    entry["hub-scan"] = _decode(hub_scan)
                if version_id is not None:
                    entry["version-id"] = _decode(version_id)
                if etag is not None:
                    entry["etag"] = _decode(etag)
                files.append(entry)
                i += 1
            model["files"] = files
            models.append(model)
            i += 1
    except (IndexError, ValueError, RecursionError, tomllib.TOMLDecodeError):
        return None
    data["model"] = models
    return data
