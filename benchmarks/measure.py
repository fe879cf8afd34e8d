"""Timing helpers: interleaved rounds, wall time and peak RSS of child processes, medians and ratios."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Sample:
    seconds: float
    max_rss_kib: int = 0


@dataclass
class Series:
    """Repeated measurements of one command or callable."""

    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def best(self) -> float:
        return min(s.seconds for s in self.samples)

    @property
    def peak_rss_mib(self) -> float:
        return max(s.max_rss_kib for s in self.samples) / 1024


def run_command(argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | None = None) -> Sample:
    """Run a command to completion; wall time and the child's own peak RSS (from wait4)."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {stderr[-2000:]}")
    if proc.stderr:
        proc.stderr.close()
    return Sample(elapsed, usage.ru_maxrss)


def interleave(
    rounds: int, contenders: dict[str, Callable[[], Sample]], before_each: Callable[[str], None] | None = None
) -> dict[str, Series]:
    """Run every contender once per round, rotating the order, so drift and noise hit all alike."""
    series = {name: Series(name) for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            if before_each is not None:
                before_each(name)
            series[name].samples.append(contenders[name]())
    return series


def ratio_of_medians(ours: Series, peer: Series) -> float:
    """Our time over the peer's time (below 1 means faster)."""
    return ours.median / peer.median
