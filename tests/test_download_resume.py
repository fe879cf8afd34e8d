"""What an interrupted download leaves, and what the next run makes of it (store/partial.py)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import blake3
import pytest

from modellock.errors import IntegrityError
from modellock.store.blobs import Store
from modellock.store.partial import record_path, record_step
from tests.helpers import cli
from tests.hub import FakeHub
from tests.samples import weights
from tests.test_download_engine import PIECE, _spans
from tests.test_lock_e2e import WEIGHTS, make_tiny
from tests.test_sync import EXPECTED, tree
from tests.test_sync_processes import spawn, wait_for

KEY = "b3_" + blake3.blake3(WEIGHTS).hexdigest()
DEAD = 999_999_999  # above pid_max: never a live process


def _plant(store: Path, data: bytes, record: object | None = None, length: int | None = None, key: str = KEY) -> Path:
    tmp = store / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    partial = tmp / f"partial-{DEAD}-{key}-planted"
    partial.write_bytes(data)
    if length is not None:
        os.truncate(partial, length)  # a sparse tail: a hole where nothing was written
    if record is not None:
        record_path(partial).write_text(json.dumps(record))
    return partial


def _blob_files(store: Path) -> list[Path]:
    return [p for p in (store / "blobs").rglob("*") if p.is_file()] if (store / "blobs").is_dir() else []


@pytest.mark.parametrize(
    ("size", "step"),
    [(None, 8 << 20), (0, 64 << 10), (1 << 20, 64 << 10), (64 << 20, 1 << 20), (1 << 40, 8 << 20)],
)
def test_record_step(size: int | None, step: int) -> None:
    assert record_step(size) == step


def test_a_kept_partial_longer_than_the_file_with_a_record_is_cut_to_size(
    project: Path, hub: FakeHub, tmp_path: Path
) -> None:
    """The record names bytes [0, size); the tail beyond must not follow them into `blobs/`."""
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    store = tmp_path / "long-store"
    record = {"size": len(WEIGHTS), "ranges": [[0, len(WEIGHTS)]]}
    _plant(store, WEIGHTS + b"a tail that is no part of the file", record)
    hub.ranges.clear()
    run = spawn(project, hub, store, "sync", "--locked")
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err.decode()
    assert hub.ranges == []  # the kept bytes were the file: nothing fetched
    for blob in _blob_files(store):
        assert blake3.blake3(blob.read_bytes()).hexdigest() == blob.name  # every blob hashes to its name
    assert tree(project / "models" / "tiny") == EXPECTED


def test_lock_over_a_kept_partial_longer_than_the_file_locks_the_file(
    project: Path, hub: FakeHub, tmp_path: Path
) -> None:
    """At `lock` the partial is keyed by the Hub's SHA-256; the tail once made the gate refuse valid weights."""
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    locked = (project / "modellock.lock").read_text()
    (project / "modellock.lock").unlink()
    store = tmp_path / "long-lock-store"
    record = {"size": len(WEIGHTS), "ranges": [[0, len(WEIGHTS)]]}
    _plant(store, WEIGHTS + b"tail", record, key="sha256_" + hashlib.sha256(WEIGHTS).hexdigest())
    run = spawn(project, hub, store, "lock")
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err.decode()
    assert (project / "modellock.lock").read_text() == locked
    for blob in _blob_files(store):
        assert blake3.blake3(blob.read_bytes()).hexdigest() == blob.name


def test_commit_refuses_a_file_longer_than_what_was_hashed(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store.tmp_dir.mkdir(parents=True)
    refused = pytest.raises(IntegrityError, match="holds 110 bytes, 100 were hashed")
    with refused, store.partial(key="b3_x", size=100) as blob:
        blob.write_at(0, bytes(100))
        os.truncate(blob.path, 110)  # anything that grew the file behind the hasher's back
        blob.commit()
    assert _blob_files(store.root) == []
    assert list(store.tmp_dir.glob("partial-*")) == []


def test_a_full_length_partial_with_a_hole_and_no_record_is_not_taken_as_complete(
    project: Path, hub: FakeHub, tmp_path: Path
) -> None:
    """A sparse partial of the file's length whose record was lost: what precedes its hole is kept, no more."""
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    store = tmp_path / "sparse-store"
    written = 5 * PIECE
    _plant(store, WEIGHTS[:written], length=len(WEIGHTS))
    probe = os.open(store / "tmp" / f"partial-{DEAD}-{KEY}-planted", os.O_RDONLY)
    try:
        if os.lseek(probe, 0, os.SEEK_HOLE) >= len(WEIGHTS):
            pytest.skip("this filesystem does not report holes")
    finally:
        os.close(probe)
    hub.ranges.clear()
    run = spawn(project, hub, store, "sync", "--locked")
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err.decode()
    assert tree(project / "models" / "tiny") == EXPECTED
    fetched = _spans(hub.ranges)
    # One resume from just before the hole; not "complete, hash fails, all of it again".
    assert len(fetched) == 1 and written - 64 * 1024 <= fetched[0][0] <= written, fetched


_CHILD = """
import os, sys
from pathlib import Path
from modellock.store.blobs import Store
store, size = Store(Path(sys.argv[1])), int(sys.argv[2])
store.tmp_dir.mkdir(parents=True, exist_ok=True)
data = bytes(range(256)) * (size // 256)
real = os.pwrite
def pwrite(fd, chunk, offset):
    done = real(fd, chunk, offset)
    if offset == int(sys.argv[3]):
        os._exit(9)  # killed the instant the first out-of-order bytes are on disk, before any record after them
    return done
os.pwrite = pwrite
with store.partial(key="b3_child", size=size) as blob:
    blob.write_at(0, data[:4096])
    blob.write_at(int(sys.argv[3]), data[int(sys.argv[3]):int(sys.argv[3]) + 65536])
"""


def test_a_kill_right_after_the_first_out_of_order_write_leaves_a_record_of_the_prefix(tmp_path: Path) -> None:
    size, elsewhere = 1 << 20, 512 * 1024
    root = tmp_path / "store"
    child = subprocess.run([sys.executable, "-c", _CHILD, str(root), str(size), str(elsewhere)], timeout=60)
    assert child.returncode == 9
    store = Store(root)
    with store.partial(key="b3_child", size=size) as blob:
        # The prefix that landed before is kept; the bytes without a record are not believed (the
        # file is longer than 4096 now, and without a record it would have been read as one prefix).
        assert blob.present() == [(0, 4096)]
        assert blob.resumed == 4096
        blob.discard()


def test_the_record_never_trails_the_landed_bytes_by_more_than_a_step(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store.tmp_dir.mkdir(parents=True)
    size, chunk = 4 << 20, 16 * 1024
    step = record_step(size)
    with store.partial(key="b3_steps", size=size) as blob:
        # Two connections' worth: the second half first, then the first half.
        for offset in [*range(size // 2, size, chunk), *range(0, size // 2, chunk)]:
            blob.write_at(offset, bytes(chunk))
            recorded = json.loads(record_path(blob.path).read_text())["ranges"]
            held = sum(b - a for a, b in recorded)
            assert blob.written - step < held <= blob.written
            assert all(a < b for a, b in recorded)
        blob.discard()


SIZE_BIG = 32 << 20


@pytest.mark.parametrize("when", [0.5, 0.0], ids=["half", "first-bytes"])
def test_a_sigkill_mid_download_costs_the_rerun_little_more_than_the_missing_bytes(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: float
) -> None:
    """A real `sync` killed with SIGKILL; the emulator counts the bytes it served to each run."""
    big = weights(os.urandom(SIZE_BIG))
    hub.repo("acme/big").commit({"config.json": b"{}", "model.safetensors": big})
    assert cli("add", "acme/big").exit_code == 0
    store = tmp_path / "killed-store"
    monkeypatch.setenv("MODELLOCK_PIECE_SIZE", str(1 << 20))
    hub.faults.rate = 3_000_000.0  # per connection: 8 connections take about 1.4 s (a record a second lost half)
    hub.served.clear()
    proc = spawn(project, hub, store, "sync", "--locked")
    wait_for(lambda: hub.served.get("model.safetensors", 0) > max(1, when * len(big)), timeout=60)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    first = hub.served.get("model.safetensors", 0)
    assert first < len(big), "the download finished before the kill"
    # What the killed process had landed (the partial's blocks) against what its record names; a
    # small file's partial may be beside it.
    [partial] = (store / "tmp").glob(f"partial-*-b3_{blake3.blake3(big).hexdigest()}-*")
    landed = partial.stat().st_blocks * 512
    record = record_path(partial)
    held = (
        sum(b - a for a, b in json.loads(record.read_text())["ranges"]) if record.exists() else partial.stat().st_size
    )
    # A step between rewrites, and chunks written but not yet recorded by connections the kill stopped.
    assert landed - held <= 2 * record_step(len(big)) + (2 << 20), (landed, held)

    hub.faults.rate = None
    hub.served.clear()
    rerun = spawn(project, hub, store, "sync", "--locked")
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err.decode()
    again = hub.served["model.safetensors"]
    assert again <= len(big) - held + (1 << 20), (again, held)  # what the record did not name, no more
    # What the killed run was sent and the rerun fetched again: its unrecorded tail and what was in
    # flight (socket buffers of a client a loaded machine has not scheduled). A record once a second
    # lost half the file here; a kill before the first record of an out-of-order write made the
    # rerun fetch all of it and more.
    wasted = first + again - len(big)
    print(f"killed at {first / len(big):.0%}, rerun fetched {again / len(big):.0%}, wasted {wasted / len(big):.1%}")
    assert wasted <= 0.35 * len(big), (first, again)
    assert (project / "models" / "big" / "model.safetensors").read_bytes() == big
    assert not list((store / "tmp").glob("partial-*")) and not list((store / "tmp").glob("ranges-*"))


@pytest.mark.parametrize(
    ("written", "length"), [(300_000, 1 << 20), (0, 1 << 20), (1 << 20, 1 << 20), (65536, 65536 * 3)]
)
def test_before_first_hole(tmp_path: Path, written: int, length: int) -> None:
    """Where a record-less partial's prefix may end: never past what was written, at most two blocks short."""
    from modellock.store.partial import _before_first_hole

    path = tmp_path / "sparse"
    path.write_bytes(b"\1" * written)
    os.truncate(path, length)
    fd = os.open(path, os.O_RDONLY)
    try:
        if written < length and os.lseek(fd, 0, os.SEEK_HOLE) >= length:
            pytest.skip("this filesystem does not report holes")
        prefix = _before_first_hole(fd, length)
    finally:
        os.close(fd)
    assert prefix <= written
    assert prefix == length if written == length else prefix >= written - 2 * max(4096, os.stat(path).st_blksize)
