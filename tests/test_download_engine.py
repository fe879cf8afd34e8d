"""The download engine against the local Hub: pieces over several connections, and every way they fail.

Pieces are 64 KiB here (MODELLOCK_PIECE_SIZE) so that the 1 MiB weights of the tiny model are
fetched as 17 ranges; the same code splits a 20 GiB file into 32 MiB pieces.
"""

from __future__ import annotations

import itertools
import json
import re
import signal
import time
from pathlib import Path

import blake3
import pytest

from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.test_lock_e2e import WEIGHTS, make_tiny
from tests.test_sync import EXPECTED, tree
from tests.test_sync_processes import spawn, wait_for

PIECE = 64 * 1024
WEIGHTS_PATH = "model.safetensors"


@pytest.fixture(autouse=True)
def _small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELLOCK_PIECE_SIZE", str(PIECE))


def _spans(ranges: list[str]) -> list[tuple[int, int]]:
    """`bytes=a-b` headers as [a, b + 1) spans (an open end reaches the end of the weights)."""
    spans = []
    for header in ranges:
        first, last = re.fullmatch(r"bytes=(\d+)-(\d*)", header).groups()  # type: ignore[union-attr]
        spans.append((int(first), int(last) + 1 if last else len(WEIGHTS)))
    return sorted(spans)


def _resolves(hub: FakeHub, path: str) -> int:
    return sum(1 for method, p in hub.requests if method == "GET" and "/resolve/" in p and p.endswith(path))


def _locked(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    hub.requests.clear()
    hub.auth.clear()
    hub.ranges.clear()


def _sync_fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, Path]:
    store = tmp_path / "fresh-store"
    monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(store))
    run = cli("sync", "--locked")
    return run.exit_code, run.stderr, store


def test_a_large_file_comes_in_ranges_over_one_resolved_redirect(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _locked(project, hub)
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    code, err, _ = _sync_fresh(tmp_path, monkeypatch)
    assert code == 0, err
    assert tree(project / "models" / "tiny") == EXPECTED
    spans = _spans(hub.ranges)
    assert len(spans) == -(-len(WEIGHTS) // PIECE)  # every piece asked for once
    assert spans[0][0] == 0 and spans[-1][1] == len(WEIGHTS)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))  # they tile the file, no gap, no overlap
    assert _resolves(hub, WEIGHTS_PATH) == 1  # the redirect is resolved once and shared by every range
    cdn = [auth for server, path, auth in hub.auth if server == "cdn"]
    assert len(cdn) == len(spans) and set(cdn) == {None}  # the token stays on the Hub's origin


def test_a_range_dropped_midway_is_resumed_on_its_own(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _locked(project, hub)
    hub.faults.drop_after[WEIGHTS_PATH] = 10_000  # the first range to arrive breaks after 10,000 bytes
    code, err, _ = _sync_fresh(tmp_path, monkeypatch)
    assert code == 0, err
    assert tree(project / "models" / "tiny") == EXPECTED
    spans = _spans(hub.ranges)
    resumed = [s for s in spans if s[0] % PIECE]
    assert resumed == [(10_000, PIECE)], spans  # only the rest of that piece was asked for again
    assert sum(b - a for a, b in spans) == len(WEIGHTS) + PIECE - 10_000


def test_a_range_with_wrong_bytes_is_refused_and_nothing_is_stored(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _locked(project, hub)
    hub.faults.corrupt_at[WEIGHTS_PATH] = 5 * PIECE + 123  # one byte of the sixth range
    code, err, store = _sync_fresh(tmp_path, monkeypatch)
    assert code == 1, err
    assert "model.safetensors: BLAKE3 mismatch" in err and "nothing was stored" in err
    assert not (project / "models" / "tiny").exists()
    stored = [p for p in (store / "blobs").rglob("*") if p.is_file()]
    assert not [p for p in stored if p.stat().st_size == len(WEIGHTS)]  # only the small files made it
    assert not list((store / "tmp").glob("partial-*")) and not list((store / "tmp").glob("ranges-*"))


def test_a_server_that_ignores_range_gets_one_stream(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _locked(project, hub)
    hub.faults.ignore_range = True
    code, err, _ = _sync_fresh(tmp_path, monkeypatch)
    assert code == 0, err
    assert tree(project / "models" / "tiny") == EXPECTED
    # The first range was answered with the whole file: no other range was asked for, and the file
    # came once more in one stream, from the redirect target already resolved.
    assert hub.ranges == [f"bytes=0-{PIECE - 1}"], hub.ranges
    assert _resolves(hub, WEIGHTS_PATH) == 1
    assert sum(1 for server, _, _ in hub.auth if server == "cdn") == 2


def test_a_redirect_that_expires_mid_download_is_resolved_again(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _locked(project, hub)
    hub.faults.expire_after[WEIGHTS_PATH] = 5  # the signed URL works for 5 requests, then 403
    code, err, _ = _sync_fresh(tmp_path, monkeypatch)
    assert code == 0, err
    assert tree(project / "models" / "tiny") == EXPECTED
    assert hub.expired, "the fault never fired"
    # One connection resolves again per expiry while the others wait for its answer (a request
    # already in flight with the old URL can add one); without that, all 8 would ask each time.
    assert 1 + len(hub.expired) <= _resolves(hub, WEIGHTS_PATH) <= 1 + 2 * len(hub.expired)


def test_a_killed_download_resumes_with_only_the_missing_ranges(project: Path, hub: FakeHub, tmp_path: Path) -> None:
    _locked(project, hub)
    store = tmp_path / "killed-store"
    hub.faults.rate = 40_000.0  # bytes per second per connection: 8 connections take about 3 s
    proc = spawn(project, hub, store, "sync", "--locked")
    records = lambda: list((store / "tmp").glob("ranges-*")) if (store / "tmp").is_dir() else []  # noqa: E731

    def holds_bytes() -> bool:
        # The record exists before the first out-of-order byte lands; wait until it names some.
        try:
            return any(json.loads(r.read_text())["ranges"] for r in records())
        except (FileNotFoundError, ValueError):
            return False

    wait_for(holds_bytes, timeout=60)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    [record] = records()
    kept = [tuple(r) for r in json.loads(record.read_text())["ranges"]]
    held = sum(b - a for a, b in kept)
    assert 0 < held < len(WEIGHTS)

    hub.faults.rate = None
    hub.ranges.clear()
    rerun = spawn(project, hub, store, "sync", "--locked")
    _, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err.decode()
    assert tree(project / "models" / "tiny") == EXPECTED
    fetched = _spans(hub.ranges)
    # Exactly the bytes the record did not hold were asked for: nothing twice, nothing missing.
    assert sum(b - a for a, b in fetched) == len(WEIGHTS) - held, (fetched, kept)
    assert not any(a < k_end and k_start < b for a, b in fetched for k_start, k_end in kept)
    assert not list((store / "tmp").glob("partial-*")) and not list((store / "tmp").glob("ranges-*"))


def test_a_forged_record_costs_one_clean_download(project: Path, hub: FakeHub, tmp_path: Path) -> None:
    """A record that claims bytes the partial does not hold is believed only as far as the hash allows."""
    _locked(project, hub)
    store = tmp_path / "forged-store"
    tmp = store / "tmp"
    tmp.mkdir(parents=True)
    name = f"999999999-b3_{blake3.blake3(WEIGHTS).hexdigest()}-dead"
    (tmp / f"partial-{name}").write_bytes(b"\0" * len(WEIGHTS))  # zeros where the weights should be
    (tmp / f"ranges-{name}").write_text(json.dumps({"size": len(WEIGHTS), "ranges": [[0, len(WEIGHTS) // 2]]}))
    run = spawn(project, hub, store, "sync", "--locked")
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err.decode()
    assert tree(project / "models" / "tiny") == EXPECTED
    spans, half = _spans(hub.ranges), len(WEIGHTS) // 2
    # First what the record said was missing; the hash failed, so then all of it, once.
    assert sum(max(0, min(b, half) - a) for a, b in spans) == half
    assert sum(max(0, b - max(a, half)) for a, b in spans) == 2 * (len(WEIGHTS) - half)


@pytest.mark.parametrize(
    "record",
    [
        {"size": 1, "ranges": [[0, 10]]},
        {"size": len(WEIGHTS), "ranges": [[10, 5]]},
        {"size": len(WEIGHTS), "ranges": [[0, 10], [5, 20]]},
        {"size": len(WEIGHTS), "ranges": [[0, 10**12]]},
        {"size": len(WEIGHTS), "ranges": "all"},
        [1, 2, 3],
    ],
    ids=["wrong-size", "backwards", "overlapping", "beyond-the-file", "not-a-list", "not-an-object"],
)
def test_a_malformed_record_throws_the_partial_away(
    project: Path, hub: FakeHub, tmp_path: Path, record: object
) -> None:
    _locked(project, hub)
    store = tmp_path / "malformed-store"
    tmp = store / "tmp"
    tmp.mkdir(parents=True)
    name = f"999999999-b3_{blake3.blake3(WEIGHTS).hexdigest()}-dead"
    (tmp / f"partial-{name}").write_bytes(WEIGHTS[:100_000])
    (tmp / f"ranges-{name}").write_text(json.dumps(record))
    run = spawn(project, hub, store, "sync", "--locked")
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err.decode()
    assert tree(project / "models" / "tiny") == EXPECTED
    assert sum(b - a for a, b in _spans(hub.ranges)) == len(WEIGHTS)  # nothing kept was believed


def test_lock_hashes_ranged_downloads_like_one_stream(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock's digests (BLAKE3, SHA-256 and the git check of the Hub's SHA-256) from ranges."""
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    ranged = (project / "modellock.lock").read_text()
    (project / "modellock.lock").unlink()
    before = snapshot(project / "models")
    monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(tmp_path / "second-store"))
    monkeypatch.setenv("MODELLOCK_PIECE_SIZE", str(1 << 30))  # one stream
    assert cli("lock").exit_code == 0
    assert (project / "modellock.lock").read_text() == ranged
    assert snapshot(project / "models") == before
    assert hub.ranges  # the first lock did fetch in ranges


def test_a_failure_inside_one_connection_is_raised_as_it_is(hub: FakeHub) -> None:
    """A bug in one connection (here the target raising) is neither retried nor turned into another error."""
    from modellock.download import Location, fetch

    repo = hub.repo("acme/raw")
    blob = repo.commits[repo.commit({"w.bin": WEIGHTS})]["w.bin"]
    written: list[tuple[int, int]] = []

    class Target:
        def present(self) -> list[tuple[int, int]]:
            return []

        def write_at(self, offset: int, chunk: bytes | memoryview) -> None:
            if offset >= 5 * PIECE:
                raise RuntimeError("a bug in the target")
            written.append((offset, len(chunk)))

        def restart(self) -> None:
            raise AssertionError("nothing to restart")

        def pause(self, seconds: float) -> None:
            time.sleep(seconds)

    url = f"{hub.cdn}/blobs/{blob.sha256}?X-Amz-Signature={hub.sign('w.bin')}"
    with pytest.raises(RuntimeError, match="a bug in the target"):
        fetch(lambda: Location(url), len(WEIGHTS), Target(), "w.bin from acme/raw")
    assert len(hub.ranges) == len(set(hub.ranges))  # no range was asked for twice: a bug is not retried


def test_a_401_from_the_origin_asks_the_source_to_locate_once_more(hub: FakeHub) -> None:
    """An expired token (a registry's): one fresh `locate`, then the bytes; a second 401 is the source's refusal."""
    from modellock.download import Location, fetch
    from modellock.errors import SourceError

    body = b"x" * 1000
    answers = iter(
        [
            b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + body,
        ]
    )
    hub.faults.cdn_raw = lambda _range: iter([next(answers, b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")])
    tokens = iter(["Bearer first", "Bearer second", "Bearer third"])
    got = bytearray()

    class Target:
        def present(self) -> list[tuple[int, int]]:
            return []

        def write_at(self, offset: int, chunk: bytes | memoryview) -> None:
            got[offset : offset + len(chunk)] = chunk

        def restart(self) -> None:
            got.clear()

        def pause(self, seconds: float) -> None:
            time.sleep(seconds)

    import httpx2

    # A plain client: huggingface_hub's session strips Authorization from origins it does not trust,
    # and the header's travel is what this test follows.
    client = httpx2.Client()

    def locate() -> Location:
        return Location(f"{hub.cdn}/blobs/x", {"Authorization": next(tokens)}, client)

    fetch(locate, len(body), Target(), "x")
    assert bytes(got) == body
    assert [auth for server, _, auth in hub.auth if server == "cdn"] == ["Bearer first", "Bearer second"]

    hub.auth.clear()
    refused = lambda response: SourceError(f"refused with {response.status_code}")  # noqa: E731
    with pytest.raises(SourceError, match="refused with 401"):
        fetch(lambda: Location(f"{hub.cdn}/blobs/x", {"Authorization": "Bearer t"}, client, refused), 10, Target(), "x")
    assert len(hub.auth) == 2  # one fresh location, not more
    client.close()
