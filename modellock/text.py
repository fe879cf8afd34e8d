"""Sizes, durations, counts and commit ids as people read them, for messages at every layer."""

from __future__ import annotations


def human_size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def human_time(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.2f}s"


def count(n: int, word: str) -> str:
    """`1 file`, `3 files`."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def short(commit: str | None) -> str:
    return commit[:7] if commit else "-"
