"""Real processes: a sync killed with SIGKILL, and two syncs racing on one store and target."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modellock.store.installed import MARKER
from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.test_lock_e2e import make_tiny
from tests.test_sync import EXPECTED


def spawn(project: Path, hub: FakeHub, store: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "MODELLOCK_CACHE_DIR": str(store)}
    return subprocess.Popen(
        [sys.executable, "-m", "modellock", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def test_killed_sync_then_rerun_leaves_correct_tree_and_no_leftovers(
    project: Path, hub: FakeHub, tmp_path: Path
) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    store = tmp_path / "fresh-store"
    hub.faults.throttle["model.safetensors"] = 0.05  # 16 chunks: the download takes about a second
    proc = spawn(project, hub, store, "sync", "--locked")
    tmp = store / "tmp"
    wait_for(lambda: tmp.is_dir() and any(p.stat().st_size > 100_000 for p in tmp.iterdir()))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (project / "models" / "tiny").exists()
    hub.faults.throttle.clear()
    rerun = spawn(project, hub, store, "sync", "--locked")
    _, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err.decode()
    installed = snapshot(project / "models" / "tiny")
    assert {k: v for k, v in installed.items() if k != MARKER} == EXPECTED
    assert list(tmp.iterdir()) == []
    assert [p.name for p in (project / "models").iterdir()] == ["tiny"]


def test_two_syncs_at_once_both_succeed(project: Path, hub: FakeHub, tmp_path: Path) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    store = tmp_path / "shared-store"
    hub.faults.throttle["model.safetensors"] = 0.02
    procs = [spawn(project, hub, store, "sync", "--locked") for _ in range(2)]
    results = [p.communicate(timeout=60) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()
    installed = snapshot(project / "models" / "tiny")
    assert {k: v for k, v in installed.items() if k != MARKER} == EXPECTED
    assert cli("verify").exit_code == 0
    assert list((store / "tmp").iterdir()) == []


@pytest.mark.parametrize("leftover", ["staging", "retired"])
def test_recovers_from_a_kill_during_commit(project: Path, hub: FakeHub, leftover: str) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    assert cli("sync").exit_code == 0
    models = project / "models"
    if leftover == "staging":
        # A dead process (pid far above pid_max) left a half-built tree.
        (models / ".modellock-staging-tiny-999999999-abcd" / "sub").mkdir(parents=True)
    else:
        # Killed between parking the old tree and moving the new one in: the target is missing.
        (models / "tiny").rename(models / ".modellock-retired-tiny")
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    assert [p.name for p in models.iterdir()] == ["tiny"]
    assert cli("verify").exit_code == 0


def test_prune_during_a_running_lock_deletes_nothing_it_fetched(project: Path, hub: FakeHub, tmp_path: Path) -> None:
    make_tiny(hub)
    (project / "modellock.toml").write_text('[models.tiny]\nrepo = "acme/tiny"\n')
    store = tmp_path / "store"
    hub.faults.throttle["model.safetensors"] = 0.05  # the download takes about a second
    proc = spawn(project, hub, store, "lock")
    # Some blobs are in the store (config.json came first), no lock names them yet.
    wait_for(lambda: (store / "tmp").is_dir() and any((store / "tmp").iterdir()))
    pruned = cli("cache", "prune")  # waits for the lock to finish
    assert pruned.exit_code == 0, pruned.stderr
    assert proc.wait(30) == 0, proc.stderr.read() if proc.stderr else ""
    assert "Removed 0 blobs" in pruned.stdout
    assert cli("sync", "--offline").exit_code == 0  # every locked blob survived the prune
