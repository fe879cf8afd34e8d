"""What a source tells the engine about one file, and what the engine writes the bytes into."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import httpx2


@dataclass(frozen=True)
class Location:
    """Where one file's bytes are served over HTTP, and how to ask for them."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    """Sent to `url`'s origin only: a redirect to another origin never carries them."""
    client: httpx2.Client | None = None
    """None: huggingface_hub's shared session (its connection pool and proxy settings)."""
    refused: Callable[[httpx2.Response], Exception] | None = None
    """The error for a 4xx answer from the origin (its body read); None names the status."""


class Target(Protocol):
    """Where fetched bytes go, at their offsets; it hashes and judges them, the engine only moves them."""

    def present(self) -> list[tuple[int, int]]:
        """Byte ranges `[start, end)` already written (kept from an interrupted run), in order."""

    def write_at(self, offset: int, chunk: bytes | memoryview) -> None:
        """Write bytes at `offset`; raises if the run is stopped meanwhile."""

    def restart(self) -> None:
        """Forget everything written (the server cannot serve ranges, or the kept bytes were bad)."""

    def pause(self, seconds: float) -> None:
        """Wait before another attempt; raises if the run is stopped meanwhile."""
