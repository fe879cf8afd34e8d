"""Names that become paths: repository paths, ref names, repository ids, install paths; and globs."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from modellock.errors import UnsafePath

# Names modellock keeps for itself inside an installed model directory.
RESERVED_PREFIX = ".modellock"
REPO_TYPES = ("model", "dataset")
_REPO_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}\Z")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
# git check-ref-format's forbidden characters, plus whitespace and backslash.
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def valid_repo_id(repo: str) -> bool:
    return bool(_REPO_ID.match(repo)) and "--" not in repo and ".." not in repo


def valid_model_name(name: str) -> bool:
    return bool(_MODEL_NAME.match(name))


def ref_problem(ref: str) -> str | None:
    """Why `ref` cannot be a branch, tag or PR ref name (git's rules), or None.

    A ref name becomes a file (`refs/<ref>` in a Hugging Face cache), so anything that could climb
    out of that directory or be read differently by git is refused.
    """
    if not ref or len(ref) > 255:
        return "a ref name has 1 to 255 characters"
    if _REF_FORBIDDEN.search(ref):
        return "a ref name has no whitespace, control characters or any of ~ ^ : ? * [ \\"
    parts = ref.split("/")
    if any(not part or part.startswith(".") or part.endswith(".lock") for part in parts):
        return "a ref name has no empty component, none starting with `.` or ending in `.lock`"
    if ".." in ref or "@{" in ref or ref.endswith(".") or ref == "@":
        return "a ref name has no `..` or `@{`, does not end in `.` and is not `@`"
    return None


def install_path_problem(path: str) -> str | None:
    """Why `path` cannot be an install path at all (where it points is checked against the project later)."""
    if not path.strip():
        return "the path is empty"
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in path):
        return "the path contains a control character"
    return length_reason(path)


def file_path_problem(path: str) -> str | None:
    """Why a locked file's path may not be written: unsafe, or longer than filesystems allow."""
    reason = unsafe_reason(path)
    if reason is None and len(path) > NAME_MAX // 4:  # shorter paths fit in any filesystem's limits
        reason = length_reason(path)
    return reason


# The common case in one regex: relative, no empty/`.`/`..` parts, no backslash or control characters.
_PLAIN = re.compile(
    r"(?![A-Za-z]:)(?!\.{1,2}(?:/|$))[^/\\\x00-\x1f\x7f\ud800-\udfff]+"
    r"(?:/(?!\.{1,2}(?:/|$))[^/\\\x00-\x1f\x7f\ud800-\udfff]+)*"
)


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
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in path):
        # JSON can carry a lone surrogate (`\ud800`); no filesystem, lock or seal can hold one.
        return "the path contains a lone surrogate (not Unicode text)"
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


@dataclass(frozen=True)
class Claim:
    """The directory one model installs into: its own tree, or a Hugging Face cache it may share."""

    name: str
    path: str
    """As written in the manifest or lock: `~` expands, relative to the project."""
    shared_as: tuple[str, ...] | None = None
    """For the hf-cache layout, what the model is inside the shared cache (repo type, repo, revision)."""


def install_root(path: str, project_dir: Path) -> Path:
    """Where an install path points, absolute, `..` and symlinks resolved as far as they exist."""
    expanded = Path(os.path.expanduser(path))
    return Path(os.path.realpath(expanded if expanded.is_absolute() else project_dir / expanded))


def claims_problem(claims: Iterable[Claim], project_dir: Path) -> tuple[str, str] | None:
    """(model, why) for the first install path that is dangerous or overlaps another model's; else None.

    `--force` cannot override this: a model's directory is replaced whole, so it may never be the
    filesystem root, the home directory, the project or one of its parents, or inside another model's.
    """
    project = Path(os.path.realpath(project_dir))
    home = Path(os.path.realpath(Path.home()))
    roots = [(claim, install_root(claim.path, project_dir)) for claim in claims]
    for claim, root in roots:
        if root == Path(root.anchor) or root == home:
            return claim.name, f"its path {claim.path!r} is {'the home directory' if root == home else '/'}"
        if root == project or root in project.parents:
            return claim.name, f"its path {claim.path!r} is the project directory or one of its parents"
    for i, (a, root_a) in enumerate(roots):
        for b, root_b in roots[i + 1 :]:
            if root_a == root_b:
                if a.shared_as is not None and b.shared_as is not None and a.shared_as != b.shared_as:
                    continue  # two models in one Hugging Face cache
                return b.name, f"it shares its path {b.path!r} with model `{a.name}`"
            if root_a in root_b.parents or root_b in root_a.parents:
                inner, outer = (b, a) if root_a in root_b.parents else (a, b)
                return inner.name, f"its path {inner.path!r} is inside the path of model `{outer.name}`"
    return None
