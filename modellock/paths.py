"""Repository paths: which ones are safe to write, and which ones a manifest's globs select."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

from modellock.errors import UnsafePath

# Names modellock keeps for itself inside an installed model directory.
RESERVED_PREFIX = ".modellock"


# The common case in one regex: relative, no empty/`.`/`..` parts, no backslash or control characters.
_PLAIN = re.compile(r"(?![A-Za-z]:)(?!\.{1,2}(?:/|$))[^/\\\x00-\x1f\x7f]+(?:/(?!\.{1,2}(?:/|$))[^/\\\x00-\x1f\x7f]+)*")


def unsafe_reason(path: str) -> str | None:
    """Why `path` may not be written under a target directory, or None if it is safe."""
    if _PLAIN.fullmatch(path) and not path[: len(RESERVED_PREFIX)].casefold().startswith(RESERVED_PREFIX):
        return None
    if not path:
        return "the path is empty"
    if "\0" in path:
        return "the path contains a NUL byte"
    if "\\" in path:
        return "the path contains a backslash"
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return "the path is absolute"
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "the path has an empty, `.` or `..` component"
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in path):
        return "the path contains a control character"
    if parts[0].casefold().startswith(RESERVED_PREFIX):
        return f"names starting with `{RESERVED_PREFIX}` are reserved for modellock"
    return None


# Linux and macOS limits (NAME_MAX, PATH_MAX): a longer repository path cannot be installed anywhere.
NAME_MAX = 255
PATH_MAX = 4096


def length_reason(path: str) -> str | None:
    """Why `path` is too long to be a file on common filesystems, or None."""
    longest = max(path.split("/"), key=lambda part: len(part.encode()))
    if len(longest.encode()) > NAME_MAX:
        return f"a path component is {len(longest.encode())} bytes long; filesystems allow {NAME_MAX}"
    if len(path.encode()) > PATH_MAX - 256:
        # Leaves room for the directory it is installed in.
        return f"the path is {len(path.encode())} bytes long; the limit is {PATH_MAX - 256} (PATH_MAX {PATH_MAX})"
    return None


def collision_key(path: str) -> str:
    """Two paths with the same key would be one file on a case-insensitive or normalising filesystem."""
    return unicodedata.normalize("NFC", path).casefold()


def check_repo_paths(repo: str, paths: Iterable[str]) -> None:
    """Refuse any path that could escape its directory or collide with another after normalisation."""
    seen: dict[str, str] = {}
    for path in paths:
        reason = unsafe_reason(path) or length_reason(path)
        if reason:
            raise UnsafePath(
                f"refusing {repo}: repository path {path!r} is unsafe: {reason}",
                hint="a locked model may only write plain relative paths inside its own directory",
            )
        key = collision_key(path)
        if key in seen:
            raise UnsafePath(
                f"refusing {repo}: repository paths {seen[key]!r} and {path!r} would collide "
                "on a case-insensitive or Unicode-normalising filesystem",
            )
        seen[key] = path
    # A file and a directory of the same name cannot both exist.
    dirs = {collision_key(p.rsplit("/", 1)[0]) for p in seen.values() if "/" in p}
    for prefix in list(dirs):
        while "/" in prefix:
            prefix = prefix.rsplit("/", 1)[0]
            dirs.add(prefix)
    for key, path in seen.items():
        if key in dirs:
            raise UnsafePath(f"refusing {repo}: {path!r} is both a file and a directory")


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    anchored = "/" in pattern.rstrip("/")
    directory = pattern.endswith("/")
    body = pattern.strip("/") if anchored or directory else pattern
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if body.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            end = body.find("]", i + 2 if body[i + 1 : i + 2] in ("!", "]") else i + 1)
            if end == -1:
                out.append(re.escape(ch))
                i += 1
                continue
            inner = body[i + 1 : end]
            if inner.startswith("!"):
                inner = "^" + inner[1:]
            out.append(f"(?!/)[{inner.replace(chr(92), chr(92) * 2)}]")
            i = end + 1
        else:
            out.append(re.escape(ch))
            i += 1
    regex = "".join(out)
    prefix = "" if anchored else "(?:.*/)?"
    suffix = "/.*" if directory else ""
    return re.compile(f"{prefix}{regex}{suffix}")


def glob_match(pattern: str, path: str) -> bool:
    """Match a repo path against one manifest glob (see docs/manifest.md for the rules)."""
    return _compile(pattern).fullmatch(path) is not None


def select(paths: Iterable[str], include: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """The paths an include/exclude pair selects: all when `include` is empty, minus any excluded."""
    chosen = []
    for path in paths:
        if include and not any(glob_match(p, path) for p in include):
            continue
        if any(glob_match(p, path) for p in exclude):
            continue
        chosen.append(path)
    return chosen
