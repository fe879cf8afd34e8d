"""The private parts of our dependencies that modellock relies on, each behind one version check.

A private name can change in any release, and a silent change is worse than a refusal: the header
deadline in `download/reads.py` is what stops a server trickling headers forever, the pagination of
the Hub's commit history decides `lock --check --remote`. So every private name is reached through
a function here that first checks the installed release against the range the code was tested
with (`SUPPORTED`), and refuses anything else as `UnsupportedDependency` (exit 2) naming the
package and the range. The ranges match pyproject's bounds, so only an install that bypassed the
resolver (`--no-deps`, a vendored copy, a forced upgrade) can meet the refusal.

Imports stay inside the functions: `--help` and `lock --check` must not pay for huggingface_hub.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any

from modellock.errors import UnsupportedDependency

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from importlib.abc import Traversable


class Range:
    """Releases from `low` (included) to `high` (excluded), as pyproject writes `>=low,<high`.

    A plain class: this module is imported by every command, `--help` included."""

    __slots__ = ("high", "low")

    def __init__(self, low: str, high: str) -> None:
        self.low = low
        self.high = high

    def holds(self, version: str) -> bool:
        release = _release(version)
        return release is not None and _release(self.low) <= release < _release(self.high)  # type: ignore[operator]

    def __str__(self) -> str:
        return f">={self.low},<{self.high}"


# Per distribution, the releases whose private names below were read and tested (tests/test_compat.py).
SUPPORTED: dict[str, Range] = {
    "httpcore2": Range("2.17", "3"),
    "h11": Range("0.16", "0.17"),
    "huggingface_hub": Range("2.4", "3"),
    "typer": Range("0.26", "0.29"),
    "sigstore": Range("4.5", "5"),
}

_checked: set[str] = set()


def _release(version: str) -> tuple[int, ...] | None:
    """The numeric release of a version string (`0.28.0rc1` -> (0, 28, 0)); None if it has none."""
    match = re.match(r"^\s*v?(\d+(?:\.\d+)*)", version)
    if match is None:
        return None
    parts = [int(p) for p in match.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()  # 2.17.0 == 2.17
    return tuple(parts)


def _installed(distribution: str) -> str:
    """The version of the module Python imported (its `__version__`), not whatever metadata is on the path."""
    module = sys.modules.get(distribution) or __import__(distribution)
    version = getattr(module, "__version__", None)
    if isinstance(version, str):
        return version
    from importlib import metadata

    return metadata.version(distribution)


def require(distribution: str) -> None:
    """Refuse to use `distribution`'s private names unless its installed release is one we support."""
    if distribution in _checked:
        return
    supported = SUPPORTED[distribution]
    version = _installed(distribution)
    if not supported.holds(version):
        raise UnsupportedDependency(distribution, version, str(supported))
    _checked.add(distribution)


def forget_checks() -> None:
    """Check again at the next use (tests install another version in-process)."""
    _checked.clear()


# --- httpcore2: the read size and the header deadline (download/reads.py) ---


def httpcore_reading() -> tuple[Any, Any, type[Exception]]:
    """(HTTP11Connection, SyncStream, ReadTimeout): the class whose `READ_NUM_BYTES` sets the read size,
    the socket stream whose `read` the header deadline wraps, and the error a read timeout raises."""
    require("httpcore2")
    from httpcore2 import ReadTimeout
    from httpcore2._backends.sync import SyncStream
    from httpcore2._sync.http11 import HTTP11Connection

    return HTTP11Connection, SyncStream, ReadTimeout


def h11_receive_buffer() -> Any:
    """h11's `ReceiveBuffer`, whose reads `download/reads.py` makes hand body bytes out without copies."""
    require("h11")
    from h11._receivebuffer import ReceiveBuffer

    return ReceiveBuffer


# --- huggingface_hub: its HTTP client and pagination (sources/huggingface.py) ---


def hf_default_client_factory() -> Callable[[], Any]:
    """huggingface_hub's own client factory, so ours keeps its hooks (user agent, request ids)."""
    require("huggingface_hub")
    from huggingface_hub.utils._http import default_client_factory

    return default_client_factory  # type: ignore[no-any-return]


def hf_paginate(
    url: str, *, params: dict[str, Any], headers: dict[str, str], timeout: float | None = None
) -> Iterable[Any]:
    """The Hub's `Link: rel=next` pagination, as huggingface_hub follows it for its own listings."""
    require("huggingface_hub")
    from huggingface_hub.utils._pagination import paginate

    if timeout is None:
        return paginate(url, params=params, headers=headers)  # type: ignore[no-any-return]
    return paginate(url, params=params, headers=headers, timeout=timeout)  # type: ignore[no-any-return]


# --- typer: its vendored Click and completion (cli/group.py, cli/completion_cmd.py) ---


def typer_internals() -> Any:
    """A namespace of the typer internals the CLI uses: `ClickException`, `NoArgsIsHelpError`,
    `UsageError` (vendored Click), `TyperChoice` (fixed choices keep their metavar),
    `completion_init` and `get_completion_script`."""
    require("typer")
    import types

    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
    from typer._types import TyperChoice

    def completion_init() -> None:
        from typer._completion_classes import completion_init as init

        init()

    def get_completion_script(*, prog_name: str, complete_var: str, shell: str) -> str:
        from typer._completion_shared import get_completion_script as script

        return script(prog_name=prog_name, complete_var=complete_var, shell=shell)

    return types.SimpleNamespace(
        ClickException=ClickException,
        NoArgsIsHelpError=NoArgsIsHelpError,
        UsageError=UsageError,
        TyperChoice=TyperChoice,
        completion_init=completion_init,
        get_completion_script=get_completion_script,
    )


# --- sigstore: the production trusted root it ships (signing/trust.py) ---


def sigstore_shipped_store() -> Traversable:
    """The directory inside the sigstore package holding the production TUF snapshot."""
    require("sigstore")
    from importlib import resources

    return resources.files("sigstore._store") / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
