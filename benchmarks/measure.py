"""Timing helpers: interleaved rounds, wall time and peak RSS of child processes, medians and ratios."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else shutil.which("time")


@dataclass
class Sample:
    seconds: float
    max_rss_kib: int = 0
    cpu_seconds: float = 0.0
    """User + system time of the command and the children it waited for."""


@dataclass
class Series:
    """Repeated measurements of one command."""

    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def cpu_median(self) -> float:
        return statistics.median(s.cpu_seconds for s in self.samples)

    @property
    def peak_rss_mib(self) -> float:
        return max(s.max_rss_kib for s in self.samples) / 1024


def run_command(
    argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | None = None, rss: bool = False
) -> Sample:
    """Run a command to completion: wall time, CPU time (user + system of it and every descendant it
    waited for, from `wait4`) and, with `rss`, its peak RSS measured by GNU time.

    (`wait4`'s ru_maxrss is no use for memory: a forked child starts out counting its parent's pages.)
    """
    command = list(argv)
    report = None
    if rss and _TIME:
        handle, report = tempfile.mkstemp(suffix=".rss")
        os.close(handle)
        command = [_TIME, "-f", "%M", "-o", report, *command]
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            tail = errors.read()[-2000:].decode(errors="replace")
            raise RuntimeError(f"{' '.join(argv)} failed ({child.returncode}): {tail}")
    peak = 0
    if report is not None:
        with open(report) as f:
            peak = int(f.read().split()[-1])
        os.unlink(report)
    return Sample(elapsed, peak, usage.ru_utime + usage.ru_stime)


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
