"""Usage and environment errors: exit 2, a message that says what to do, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.test_lock_e2e import make_tiny


def test_usage_errors(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    before = snapshot(project)
    cases = [
        (("sync", "--locked", "--frozen"), "--locked and --frozen cannot be combined"),
        (("remove", "nope"), "model `nope` is not in modellock.toml"),
        (("scan", "--pickle", "maybe", "."), "--pickle takes deny, scan or allow"),
        (("lock", "--check", "--dry-run"), "--check cannot be combined"),
        (("sync", "--model", "nope"), "--model names a model not in the lock"),
    ]
    for args, message in cases:
        run = cli(*args)
        assert run.exit_code == 2, (args, run.stderr)
        assert message in run.stderr, (args, run.stderr)
    assert snapshot(project) == before


def test_sync_with_the_hub_unreachable(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(tmp_path / "empty-store"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    run = cli("sync", "--locked")
    assert run.exit_code == 2 and "could not download" in run.stderr
    assert not (project / "models").exists()


def test_prune_refuses_when_a_registered_lock_is_unreadable(project: Path, hub: FakeHub, tmp_path: Path) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    store = tmp_path / "store"
    blobs = snapshot(store / "blobs")
    (project / "modellock.lock").write_text("version = = 1\n")
    run = cli("cache", "prune")
    assert run.exit_code == 2 and "modellock.lock:1" in run.stderr
    assert snapshot(store / "blobs") == blobs
