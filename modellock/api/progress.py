"""`modellock.Progress`: what `lock(progress=…)` and `sync(progress=…)` report to (begin, advance, file_done, end)."""

from __future__ import annotations

from modellock.ops.progress import NoProgress, Progress

__all__ = ["NoProgress", "Progress"]
