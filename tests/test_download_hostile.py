"""The download engine against a hostile CDN and a hostile store (found by an attacker's review)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from modellock.errors import IntegrityError
from modellock.store.frontier import Frontier
from modellock.store.hashing import StreamHasher
from tests.hub import FakeHub
from tests.test_download_engine import PIECE, _locked, _sync_fresh
from tests.test_lock_e2e import WEIGHTS
from tests.test_sync import EXPECTED, tree
from tests.test_sync_processes import spawn

DEAD = 4_000_000  # above pid_max: never a live process
KEY = "b3_" + blake3.blake3(WEIGHTS).hexdigest()


@pytest.fixture(autouse=True)
def _small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELLOCK_PIECE_SIZE", str(PIECE))


def _plant(tmp: Path, kind: str, victim: Path) -> None:
    partial = tmp / f"partial-{DEAD}-{KEY}-planted"
    record = tmp / f"ranges-{DEAD}-{KEY}-planted"
    if kind.endswith("-record"):
        partial.write_bytes(WEIGHTS[:1000])
    if kind == "fifo-record":
        os.mkfifo(record)
    elif kind == "dir-record":
        record.mkdir()
    elif kind == "deep-json-record":
        record.write_text("[" * 200_000 + "]" * 200_000)
    elif kind == "symlink-record":
        record.symlink_to(victim)
    elif kind == "dir-partial":
        partial.mkdir()
        (partial / "inside").write_text("x")
    elif kind == "symlink-partial":
        partial.symlink_to(victim)
    elif kind == "fifo-partial":
        os.mkfifo(partial)
    elif kind == "hardlink-partial":
        os.link(victim, partial)


@pytest.mark.parametrize(
    "kind",
    [
        "hardlink-partial",
        "symlink-partial",
        "dir-partial",
        "fifo-partial",
        "fifo-record",
        "dir-record",
        "symlink-record",
        "deep-json-record",
    ],
)
def test_a_planted_partial_or_record_is_thrown_away_and_never_written_through(
    project: Path, hub: FakeHub, tmp_path: Path, kind: str
) -> None:
    _locked(project, hub)
    store = tmp_path / "planted-store"
    (store / "tmp").mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious user data\n")
    _plant(store / "tmp", kind, victim)
    for _ in range(2):  # and the next run is not stuck on what the first one found
        run = spawn(project, hub, store, "sync", "--locked")
        _, err = run.communicate(timeout=30)
        assert run.returncode == 0, err.decode()
    assert tree(project / "models" / "tiny") == EXPECTED
    assert victim.read_bytes() == b"precious user data\n"
    assert oct(victim.stat().st_mode & 0o777) == "0o644"


def _raw(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + body


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            _raw("206 Partial Content", {"Content-Length": "1", "Content-Range": "bytes " + "1" * 5000 + "-2/3"}, b"x"),
            "the server answered something else",
        ),
        (_raw("302 Found", {"Content-Length": "0", "Location": "http://[::1/x"}), "unusable address"),
        (_raw("416 Range Not Satisfiable", {"Content-Length": "0"}), "answered HTTP 416"),
        (
            _raw("206 Partial Content", {"Content-Length": "0", "Content-Range": "bytes 0-0/1048656"}),
            "after 5 attempts",
        ),
    ],
    ids=["5000-digit-content-range", "unparseable-location", "416", "empty-206"],
)
def test_a_malformed_answer_is_a_clean_error(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: bytes, message: str
) -> None:
    _locked(project, hub)
    hub.faults.cdn_raw = lambda _range: iter([answer])
    code, err, _ = _sync_fresh(tmp_path, monkeypatch)
    assert code in (1, 2) and err.startswith("error: "), err
    assert message in err and "internal error" not in err
    assert not (project / "models" / "tiny").exists()


def test_an_endless_error_body_is_not_read_into_memory(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[int] = []

    def endless(_range: str) -> Iterator[bytes]:
        yield _raw("400 Bad Request", {"Content-Length": str(1 << 40)})
        block = b"\0" * (1 << 20)
        for _ in range(1 << 20):
            sent.append(len(block))
            yield block

    _locked(project, hub)
    hub.faults.cdn_raw = endless
    code, err, _ = _sync_fresh(tmp_path, monkeypatch)
    assert code != 0 and "answered HTTP 400" in err and "internal error" not in err
    time.sleep(0.2)
    # The client read the first 64 KiB and hung up; what the server got out is what the sockets buffer.
    assert sum(sent) < 32 << 20, sum(sent)


def test_headers_trickled_a_byte_at_a_time_meet_a_deadline(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def trickle(_range: str) -> Iterator[bytes]:
        yield b"HTTP/1.1 200 OK\r\n"
        for _ in range(100_000):
            time.sleep(0.2)
            yield b"X"  # every byte well within the read timeout: only a deadline ends this

    _locked(project, hub)
    hub.faults.cdn_raw = trickle
    monkeypatch.setenv("MODELLOCK_SPEED_TIME", "1")
    started = time.monotonic()
    code, err, _ = _sync_fresh(tmp_path, monkeypatch)
    took = time.monotonic() - started
    assert code == 2 and "could not download model.safetensors" in err and "received 0 bytes" in err, err
    assert took < 60, took  # a 1 s window ends it; the bound is for a loaded machine


def test_bytes_written_twice_are_refused_even_if_the_hash_was_of_the_first(tmp_path: Path) -> None:
    """Write [0, 10), then other bytes over [0, 5), then [10, 100): the hash saw the first bytes, the file holds
    the second; the frontier refuses rather than report a right digest for wrong bytes on disk."""
    good = bytes(range(100))
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        hasher = StreamHasher()
        frontier = Frontier(fd, hasher)
        for offset, chunk in ((0, good[:10]), (0, b"EVIL!"), (10, good[10:])):
            os.pwrite(fd, chunk, offset)
            frontier.landed(offset, chunk)
        with pytest.raises(IntegrityError, match="written twice, or beyond a gap"):
            frontier.finish()
    finally:
        os.close(fd)


def _whole(body: bytes, cut: int | None = None) -> Iterator[bytes]:
    """A 200 with the whole file, whatever was asked for; with `cut`, the connection closes after that many bytes."""
    yield _raw("200 OK", {"Content-Length": str(len(body))})
    yield body[:cut]


def test_a_server_that_ignores_range_and_cuts_every_answer_is_resumed_in_one_stream(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every answer is the whole file from byte 0, cut a little later each time: the stream skips what it has."""
    answers: list[str] = []

    def ignoring(found: str) -> Iterator[bytes]:
        answers.append(found)
        yield from _whole(WEIGHTS, len(WEIGHTS) * len(answers) // 4)

    _locked(project, hub)
    hub.faults.cdn_raw = ignoring
    code, err, _ = _sync_fresh(tmp_path, monkeypatch)
    assert code == 0, err
    assert tree(project / "models" / "tiny") == EXPECTED
    # The first range met the whole file; then one stream, asking each time from where the last was cut.
    assert answers[0] == f"bytes=0-{PIECE - 1}" and answers[1] == "", answers
    assert answers[2:] == [f"bytes={len(WEIGHTS) * n // 4}-" for n in range(2, 4)], answers


def test_a_server_that_ignores_range_after_a_cut_of_a_resumed_stream_finishes(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A one-piece download (resumed from a kept prefix) whose server then ignores `Range`: no restart, no crash."""
    answers: list[str] = []

    def ignoring(found: str) -> Iterator[bytes]:
        answers.append(found)
        yield from _whole(WEIGHTS, 700_000 if len(answers) == 1 else None)

    _locked(project, hub)
    monkeypatch.setenv("MODELLOCK_PIECE_SIZE", str(1 << 30))  # one piece: one stream from the start
    store = tmp_path / "fresh-store"
    (store / "tmp").mkdir(parents=True)
    (store / "tmp" / f"partial-{DEAD}-{KEY}-kept").write_bytes(WEIGHTS[:300_000])
    hub.faults.cdn_raw = ignoring
    code, err, _ = _sync_fresh(tmp_path, monkeypatch)
    assert code == 0, err
    assert "internal error" not in err
    assert tree(project / "models" / "tiny") == EXPECTED
    assert answers == ["bytes=300000-", "bytes=700000-"], answers


def test_a_body_that_stalls_is_resumed_from_where_it_stopped(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers: list[str] = []

    def stalling(found: str) -> Iterator[bytes]:
        answers.append(found)
        if len(answers) == 2:  # the stream after the first range met the whole file
            yield from _whole(WEIGHTS, 400_000)
            time.sleep(5)  # then nothing: never a byte more on this connection
            return
        yield from _whole(WEIGHTS)

    _locked(project, hub)
    monkeypatch.setenv("MODELLOCK_SPEED_TIME", "1")  # the read timeout, and the floor's window
    hub.faults.cdn_raw = stalling
    code, err, _ = _sync_fresh(tmp_path, monkeypatch)
    assert code == 0, err
    assert tree(project / "models" / "tiny") == EXPECTED
    # The stream, then a resume from where it stalled (a loaded machine may need another).
    assert answers[1] == "" and answers[2] == "bytes=400000-", answers


def test_a_server_that_answers_every_range_short_but_makes_progress_finishes(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every range is answered with at most 8 KiB (a legal 206): curl and aria2c finish, and so do we."""
    short = 8 * 1024  # 8 answers per 64 KiB piece: more than the 5 attempts a piece had

    def stingy(found: str) -> Iterator[bytes]:
        first, _, last = found.removeprefix("bytes=").partition("-")
        start = int(first or 0)
        end = min(int(last) + 1 if last else len(WEIGHTS), start + short)
        head = {"Content-Length": str(end - start), "Content-Range": f"bytes {start}-{end - 1}/{len(WEIGHTS)}"}
        yield _raw("206 Partial Content", head, WEIGHTS[start:end])

    _locked(project, hub)
    hub.faults.cdn_raw = stingy
    code, err, _ = _sync_fresh(tmp_path, monkeypatch)
    assert code == 0, err
    assert tree(project / "models" / "tiny") == EXPECTED


def test_a_server_that_cuts_every_answer_after_a_few_bytes_meets_the_floor(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Progress on every attempt, so attempts alone never end it; the file's rate across them does."""

    def crumbs(found: str) -> Iterator[bytes]:
        start = int(found.removeprefix("bytes=").partition("-")[0] or 0)
        head = {"Content-Length": str(len(WEIGHTS) - start), "Content-Range": f"bytes {start}-{len(WEIGHTS) - 1}/*"}
        yield _raw("206 Partial Content", head, WEIGHTS[start : start + 10])
        time.sleep(0.2)

    _locked(project, hub)
    monkeypatch.setenv("MODELLOCK_SPEED_TIME", "2")
    monkeypatch.setenv("MODELLOCK_CONNECTIONS_PER_FILE", "1")
    hub.faults.cdn_raw = crumbs
    started = time.monotonic()
    code, err, _ = _sync_fresh(tmp_path, monkeypatch)
    took = time.monotonic() - started
    assert code == 2 and err.startswith("error: could not download model.safetensors from acme/tiny@"), err
    assert "less than 1024 bytes/s" in err and "internal error" not in err
    assert took < 60, took  # a 2 s window; the bound is for a loaded machine
    assert not (project / "models" / "tiny").exists()


def test_a_trickle_of_one_byte_a_second_fails_cleanly_naming_the_file(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _locked(project, hub)
    monkeypatch.setenv("MODELLOCK_SPEED_TIME", "2")
    hub.faults.trickle["model.safetensors"] = 1.0
    started = time.monotonic()
    code, err, _ = _sync_fresh(tmp_path, monkeypatch)
    took = time.monotonic() - started
    assert code == 2 and "could not download model.safetensors from acme/tiny@" in err, err
    assert "less than 1024 bytes/s" in err and "hint: " in err
    assert took < 60, took


def test_a_server_that_answers_every_range_with_the_rest_of_the_file_finishes(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bytes=a-b` answered with `bytes a-END/size` (more than asked): each piece stops at its own end."""

    def generous(found: str) -> Iterator[bytes]:
        start = int(found.removeprefix("bytes=").partition("-")[0] or 0)
        rest = WEIGHTS[start:]
        head = {"Content-Length": str(len(rest)), "Content-Range": f"bytes {start}-{len(WEIGHTS) - 1}/{len(WEIGHTS)}"}
        yield _raw("206 Partial Content", head)
        for at in range(0, len(rest), PIECE // 4):
            yield rest[at : at + PIECE // 4]

    _locked(project, hub)
    hub.faults.cdn_raw = generous
    code, err, _ = _sync_fresh(tmp_path, monkeypatch)
    assert code == 0, err
    assert tree(project / "models" / "tiny") == EXPECTED
