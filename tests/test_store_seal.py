"""The mtime seal: a stat tells whether a blob may have changed; a forged 1970 date does not pass for one."""

from __future__ import annotations

import os
from pathlib import Path

import blake3
import pytest

from modellock.store import seal as seal_module
from modellock.store.blobs import Store
from modellock.store.seal import BLOB_MTIME_NS, _seal_fraction, sealed
from tests.helpers import cli
from tests.hub import FakeHub
from tests.test_lock_e2e import WEIGHTS, make_tiny
from tests.test_sync import EXPECTED, tree

NAME = "ab" * 32


def _stat(tmp_path: Path, mtime_ns: int) -> os.stat_result:
    path = tmp_path / "blob"
    path.write_bytes(b"x")
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return os.stat(path)


@pytest.mark.parametrize(
    ("mtime_ns", "filesystem_keeps_ns", "expected"),
    [
        (1_700_000_000 * 10**9 + _seal_fraction(NAME), True, True),  # the seal `seal` gives
        (1_700_000_000 * 10**9 + _seal_fraction(NAME) + 1, True, False),  # written since
        (BLOB_MTIME_NS, False, True),  # the fallback, where nanoseconds cannot be kept
        (BLOB_MTIME_NS, True, False),  # the fallback forged (`touch -d @1`) where they can
        (1_700_000_000 * 10**9, False, False),  # a whole second that is not the fallback
        (0, False, False),
    ],
)
def test_sealed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mtime_ns: int, filesystem_keeps_ns: bool, expected: bool
) -> None:
    monkeypatch.setattr(seal_module, "keeps_nanoseconds", lambda scratch, device: filesystem_keeps_ns)
    assert sealed(_stat(tmp_path, mtime_ns), NAME, tmp_path) is expected


def test_the_probe_sees_that_this_filesystem_keeps_nanoseconds(tmp_path: Path) -> None:
    device = os.stat(tmp_path).st_dev
    seal_module._EXACT.pop(device, None)
    assert seal_module.keeps_nanoseconds(tmp_path / "scratch", device) is True
    assert list((tmp_path / "scratch").iterdir()) == []  # the probe file is gone
    # Another device than the scratch directory's is not judged by it: unknown counts as "keeps them".
    assert seal_module.keeps_nanoseconds(tmp_path / "scratch", device + 1) is True


def test_a_same_size_tamper_dated_1970_is_rehashed_and_never_installed(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    store = Store(Path(os.environ["MODELLOCK_CACHE_DIR"]))
    blob = store.blob_path(blake3.blake3(WEIGHTS).hexdigest())
    if os.stat(blob).st_mtime_ns == BLOB_MTIME_NS:
        pytest.skip("this filesystem keeps whole seconds only")
    # Tampered in place (same size), and dated like a blob on a filesystem without nanoseconds.
    os.chmod(blob, 0o644)
    tampered = bytearray(blob.read_bytes())
    tampered[-1] ^= 0xFF
    blob.write_bytes(bytes(tampered))
    os.utime(blob, ns=(BLOB_MTIME_NS, BLOB_MTIME_NS))
    assert not (project / "models").exists()
    run = cli("sync", "--locked")
    assert run.exit_code == 0, run.stderr
    assert tree(project / "models" / "tiny") == EXPECTED  # the blob was re-hashed and fetched again
    assert blake3.blake3(blob.read_bytes()).hexdigest() == blob.name


def test_a_probe_left_by_a_killed_process_is_cleaned_up(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store.tmp_dir.mkdir(parents=True)
    dead = store.tmp_dir / ".mtime-probe-999999999-abcd"
    live = store.tmp_dir / f".mtime-probe-{os.getpid()}-abcd"
    dead.write_bytes(b"")
    live.write_bytes(b"")
    store.clean_partials()
    assert not dead.exists() and live.exists()
