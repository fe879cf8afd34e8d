"""The download engine's decisions as tables: the floor rate across attempts, and what a stream skips."""

from __future__ import annotations

import pytest

from modellock.download.engine import _gaps, _past, _Piece
from modellock.download.floor import Floor, too_slow
from modellock.errors import NetworkError


@pytest.mark.parametrize(
    ("gained", "elapsed", "verdict"),
    [
        (0, 29.9, False),  # the window has not ended: no verdict yet
        (0, 30.0, True),
        (30, 30.0, True),  # 1 byte/s
        (30 * 1024, 30.0, False),  # exactly the floor
        (30 * 1024 - 1, 30.0, True),
        (10**9, 45.0, False),
    ],
)
def test_too_slow(gained: int, elapsed: float, verdict: bool) -> None:
    assert too_slow(gained, elapsed, 1024.0, 30.0) is verdict


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _trickle(floor: Floor, clock: _Clock, rate: float, seconds: float) -> float:
    """Feed `rate` bytes/s, a check a second (as chunks and failed attempts do); the time it failed, or -1."""
    floor.begin()
    while clock.now < seconds:
        clock.now += 1.0
        floor.gained(int(rate))
        try:
            floor.check()
        except NetworkError:
            return clock.now
    return -1.0


@pytest.mark.parametrize(
    ("rate", "fails_by"),
    [(1.0, 30.0), (0.0, 30.0), (1000.0, 30.0), (1024.0, -1.0), (10**6, -1.0)],
)
def test_the_floor_ends_a_slow_file_within_its_window(
    monkeypatch: pytest.MonkeyPatch, rate: float, fails_by: float
) -> None:
    """Defaults: at 1 byte/s (or none) a file fails at the end of the first 30 s window, well within 120 s."""
    monkeypatch.delenv("MODELLOCK_SPEED_LIMIT", raising=False)
    monkeypatch.delenv("MODELLOCK_SPEED_TIME", raising=False)
    clock = _Clock()
    floor = Floor("model.safetensors from acme/tiny@abc1234", clock)
    assert _trickle(floor, clock, rate, 300.0) == fails_by


def test_the_floor_names_the_file_and_starts_with_the_first_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELLOCK_SPEED_TIME", "2")
    clock = _Clock()
    floor = Floor("w.bin from acme/x@abc1234", clock)
    clock.now = 1000.0  # waiting for a connection permit: no clock yet
    floor.check()
    floor.begin()
    clock.now = 1002.5
    with pytest.raises(NetworkError, match=r"download w.bin from acme/x@abc1234: it received 0 bytes in 2.5 s"):
        floor.check()


@pytest.mark.parametrize(
    ("low", "high", "have", "gaps"),
    [
        (0, 100, [], [(0, 100)]),
        (0, 100, [(0, 100)], []),
        (0, 100, [(10, 20), (50, 60)], [(0, 10), (20, 50), (60, 100)]),
        (15, 55, [(10, 20), (50, 60)], [(20, 50)]),
        (0, 100, [(100, 200)], [(0, 100)]),
        (50, 100, [(0, 60)], [(60, 100)]),
    ],
)
def test_gaps(low: int, high: int, have: list[tuple[int, int]], gaps: list[tuple[int, int]]) -> None:
    assert _gaps(low, high, have) == gaps


@pytest.mark.parametrize(
    ("offset", "have", "moved"),
    [(5, [], 5), (5, [(5, 10)], 10), (7, [(5, 10), (10, 20)], 20), (4, [(5, 10)], 4), (10, [(5, 10)], 10)],
)
def test_past(offset: int, have: list[tuple[int, int]], moved: int) -> None:
    assert _past(offset, have) == moved


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[tuple[int, bytes]] = []

    def write_at(self, offset: int, chunk: bytes | memoryview) -> None:
        self.writes.append((offset, bytes(chunk)))


def test_a_stream_from_byte_0_writes_only_what_is_missing() -> None:
    """A whole-file answer to a stream that resumes at 30 with [50, 70) already there."""
    data = bytes(range(100))
    piece = _Piece(30, 100, have=[(50, 70)])
    target = _Recorder()
    for at in range(0, 100, 25):
        piece.land(target, at, data[at : at + 25])  # type: ignore[arg-type]
    assert target.writes == [(30, data[30:50]), (70, data[70:75]), (75, data[75:100])]
    assert piece.next == 100
