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
    assert code == 2 and "could not download model.safetensors" in err and "after 5 attempts" in err, err
    assert took < 15, took  # 5 attempts of a 1 s deadline, and their backoff


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
