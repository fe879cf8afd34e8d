"""`sync`, `verify`, `status` and the store commands against the local Hub."""

from __future__ import annotations

import json
import os
from pathlib import Path

import blake3
import pytest

from modellock.store.installed import MARKER
from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.samples import weights
from tests.test_lock_e2e import CONFIG, WEIGHTS, make_tiny

NEW_WEIGHTS = weights(b"new weights")


@pytest.fixture
def locked(project: Path, hub: FakeHub) -> Path:
    """A project with acme/tiny locked, its blobs in the store, nothing installed."""
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    return project


def fresh_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point at an empty store, as on a new machine."""
    store = tmp_path / "fresh-store"
    monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(store))
    return store


def tree(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(root).items() if k != MARKER}


EXPECTED = {"config.json": CONFIG, "model.safetensors": WEIGHTS, "sub/dir/extra.json": b"{}"}


def test_sync_locked_on_fresh_machine_installs_byte_exact(
    locked: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_machine(tmp_path, monkeypatch)
    run = cli("sync", "--locked")
    assert run.exit_code == 0, run.stderr
    assert "Installed 1 model (3 files" in run.stdout and " + tiny@" in run.stdout
    assert tree(locked / "models" / "tiny") == EXPECTED
    again = cli("sync", "--locked")
    assert again.exit_code == 0 and "Audited 1 model" in again.stdout
    assert cli("verify").exit_code == 0
    assert cli("status").exit_code == 0
    assert cli("sync", "--check").exit_code == 0


def test_hardlinked_files_are_read_only(locked: Path) -> None:
    assert cli("sync").exit_code == 0
    path = locked / "models" / "tiny" / "model.safetensors"
    assert path.stat().st_mode & 0o222 == 0
    assert path.stat().st_nlink >= 2  # shares the store's inode (ext4: hardlink, no reflink)


def test_corrupt_bytes_refused_on_fresh_machine(
    locked: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = fresh_machine(tmp_path, monkeypatch)
    hub.faults.corrupt.add("model.safetensors")
    before = snapshot(locked)
    run = cli("sync", "--locked")
    assert run.exit_code == 1
    assert "model.safetensors: BLAKE3 mismatch: the lock says" in run.stderr
    assert snapshot(locked) == before and not (locked / "models").exists()
    assert snapshot(store / "tmp") == {}


def test_corrupt_upgrade_leaves_old_tree(locked: Path, hub: FakeHub) -> None:
    assert cli("sync").exit_code == 0
    before = snapshot(locked / "models")
    hub.repos[("model", "acme/tiny")].commit({"config.json": b"{}", "model.safetensors": NEW_WEIGHTS})
    assert cli("lock", "--upgrade").exit_code == 0
    lock_text = (locked / "modellock.lock").read_text()
    # Drop the new blob from the store so that sync must fetch it, and have the server corrupt it.
    assert cli("cache", "prune").exit_code == 0
    for blob in (locked.parent / "store" / "blobs").rglob("*"):
        if blob.is_file() and blob.stat().st_size == len(NEW_WEIGHTS):
            blob.unlink()
    hub.faults.corrupt.add("model.safetensors")
    run = cli("sync", "--locked")
    assert run.exit_code == 1 and "mismatch" in run.stderr
    assert snapshot(locked / "models") == before
    assert (locked / "modellock.lock").read_text() == lock_text


def test_failed_prepare_changes_no_target(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tiny(hub, "acme/a")
    make_tiny(hub, "acme/b")
    assert cli("add", "acme/a").exit_code == 0
    assert cli("add", "acme/b").exit_code == 0
    fresh_machine(tmp_path, monkeypatch)
    hub.faults.status["config.json"] = [404] * 20  # every config.json download fails
    run = cli("sync", "--locked")
    assert run.exit_code == 2
    assert not (project / "models").exists()


def test_edited_file_reported_and_repaired(locked: Path) -> None:
    assert cli("sync").exit_code == 0
    target = locked / "models" / "tiny" / "config.json"
    # An editor replaces the read-only file rather than writing into it.
    target.unlink()
    target.write_bytes(b'{"model_type": "evil"}\n')
    status = cli("status")
    assert status.exit_code == 1 and "modified config.json" in status.stdout and "verify" in status.stderr
    verify = cli("verify")
    assert verify.exit_code == 1 and "modified config.json" in verify.stdout
    data = json.loads(cli("verify", "--format", "json").stdout)
    assert data["ok"] is False and data["models"][0]["modified"] == ["config.json"]
    assert cli("sync", "--check").exit_code == 1
    run = cli("sync")
    assert run.exit_code == 0 and "+ tiny@" in run.stdout
    assert tree(locked / "models" / "tiny") == EXPECTED
    assert cli("verify").exit_code == 0


def test_same_size_edit_in_place_caught_by_verify_and_store_repaired(locked: Path, tmp_path: Path) -> None:
    assert cli("sync").exit_code == 0
    target = locked / "models" / "tiny" / "model.safetensors"
    os.chmod(target, 0o644)
    with open(target, "r+b") as f:  # writes through the hardlink into the store blob too
        f.seek(100)
        f.write(b"\xff")
    verify = cli("verify", "--store")
    assert verify.exit_code == 1 and "modified model.safetensors" in verify.stdout
    assert "store blob bad for model.safetensors" in verify.stdout
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    assert "Downloaded 1 file " in run.stdout  # the corrupt blob was evicted and fetched again
    assert tree(locked / "models" / "tiny") == EXPECTED
    assert cli("verify", "--store").exit_code == 0


def test_extra_file_removed_unless_inexact(locked: Path) -> None:
    assert cli("sync").exit_code == 0
    extra = locked / "models" / "tiny" / "notes.txt"
    extra.write_text("mine")
    assert "extra    notes.txt" in cli("verify").stdout
    assert cli("sync", "--inexact").exit_code == 0
    assert extra.read_text() == "mine"
    assert cli("sync", "--check", "--inexact").exit_code == 0
    assert cli("sync").exit_code == 0
    assert not extra.exists()


def test_refuses_directory_it_does_not_own(locked: Path) -> None:
    target = locked / "models" / "tiny"
    target.mkdir(parents=True)
    (target / "precious.txt").write_text("keep")
    before = snapshot(locked)
    run = cli("sync")
    assert run.exit_code == 1 and "did not install" in run.stderr and "--force" in run.stderr
    assert snapshot(locked) == before
    run = cli("sync", "--force")
    assert run.exit_code == 0, run.stderr
    assert tree(target) == EXPECTED


def test_offline_with_missing_blob(locked: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh_machine(tmp_path, monkeypatch)
    hub.requests.clear()
    run = cli("sync", "--offline")
    assert run.exit_code == 1
    assert "not in the store" in run.stderr and "model.safetensors" in run.stderr
    assert not (locked / "models").exists()
    assert hub.requests == []


def test_locked_fails_on_stale_lock_frozen_ignores_manifest(locked: Path) -> None:
    manifest = locked / "modellock.toml"
    manifest.write_text(manifest.read_text().replace('repo = "acme/tiny"', 'repo = "acme/tiny"\ninclude = ["*.json"]'))
    run = cli("sync", "--locked")
    assert run.exit_code == 1 and "stale" in run.stderr
    assert not (locked / "models").exists()
    manifest.write_text("this is not toml = = =")
    run = cli("sync", "--frozen")
    assert run.exit_code == 0, run.stderr
    assert tree(locked / "models" / "tiny") == EXPECTED


def test_default_sync_relocks_a_stale_lock(locked: Path, hub: FakeHub) -> None:
    manifest = locked / "modellock.toml"
    manifest.write_text(manifest.read_text().replace('repo = "acme/tiny"', 'repo = "acme/tiny"\ninclude = ["*.json"]'))
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    assert tree(locked / "models" / "tiny") == {"config.json": CONFIG, "sub/dir/extra.json": b"{}"}


def test_dry_run_and_model_subset(project: Path, hub: FakeHub) -> None:
    make_tiny(hub, "acme/a")
    make_tiny(hub, "acme/b")
    assert cli("add", "acme/a").exit_code == 0
    assert cli("add", "acme/b").exit_code == 0
    run = cli("sync", "--dry-run")
    assert run.exit_code == 0 and "Would install a@" in run.stdout and "Would install b@" in run.stdout
    assert not (project / "models").exists()
    assert cli("sync", "--model", "a").exit_code == 0
    assert (project / "models" / "a").is_dir() and not (project / "models" / "b").exists()
    bad = cli("sync", "--model", "zzz")
    assert bad.exit_code == 2 and "zzz" in bad.stderr


def test_json_output(locked: Path) -> None:
    run = cli("sync", "--format", "json")
    assert run.exit_code == 0
    data = json.loads(run.stdout)
    assert data["models"][0]["name"] == "tiny" and data["models"][0]["action"] == "install"
    assert data["link_mode"] in ("reflink", "hardlink", "copy")


def test_link_mode_copy(locked: Path) -> None:
    run = cli("sync", "--link-mode", "copy")
    assert run.exit_code == 0, run.stderr
    path = locked / "models" / "tiny" / "model.safetensors"
    assert path.stat().st_nlink == 1
    assert blake3.blake3(path.read_bytes()).hexdigest() == blake3.blake3(WEIGHTS).hexdigest()
    assert cli("sync", "--link-mode", "bogus").exit_code == 2


def test_upgrade_switches_tree(locked: Path, hub: FakeHub) -> None:
    assert cli("sync").exit_code == 0
    hub.repos[("model", "acme/tiny")].commit({"config.json": b'{"v": 2}\n'})  # the other files are gone
    assert cli("lock", "--upgrade").exit_code == 0
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    assert tree(locked / "models" / "tiny") == {"config.json": b'{"v": 2}\n'}
    assert not [p for p in (locked / "models").iterdir() if p.name.startswith(".modellock")]


def test_cache_commands(locked: Path, tmp_path: Path) -> None:
    run = cli("cache", "dir")
    assert run.exit_code == 0 and run.stdout.strip() == str(tmp_path / "store")
    run = cli("cache", "verify")
    assert run.exit_code == 0 and "3 blobs, 0 corrupt" in run.stdout
    blob_dir = tmp_path / "store" / "blobs"
    victim = next(p for p in blob_dir.rglob("*") if p.is_file() and p.stat().st_size == len(CONFIG))
    os.chmod(victim, 0o644)
    victim.write_bytes(b"x" * len(CONFIG))
    run = cli("cache", "verify")
    assert run.exit_code == 1 and victim.name in run.stdout
    assert not victim.exists()
    # Prune keeps what the registered lock references and drops the rest.
    (blob_dir / "00").mkdir(exist_ok=True)
    orphan = blob_dir / "00" / ("00" * 32)
    orphan.write_bytes(b"orphan")
    run = cli("cache", "prune")
    assert run.exit_code == 0 and "Removed 1 blobs" in run.stdout
    assert not orphan.exists()
    assert cli("sync").exit_code == 0  # the evicted config.json is fetched again
    assert tree(locked / "models" / "tiny") == EXPECTED


def test_model_dropped_from_the_lock_is_removed(project: Path, hub: FakeHub) -> None:
    make_tiny(hub, "acme/a")
    make_tiny(hub, "acme/b")
    assert cli("add", "acme/a").exit_code == 0
    assert cli("add", "acme/b").exit_code == 0
    assert cli("sync").exit_code == 0
    assert cli("remove", "b").exit_code == 0
    check = cli("sync", "--check")
    assert check.exit_code == 1 and "Out of sync: b (no longer in the lock)" in check.stdout
    assert (project / "models" / "b").is_dir()  # --check changed nothing
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    assert "Removed 1 model no longer in the lock" in run.stdout and " - b@" in run.stdout
    assert not (project / "models" / "b").exists() and (project / "models" / "a").is_dir()
    assert cli("sync", "--check").exit_code == 0


def test_dropped_model_directory_not_owned_is_kept(project: Path, hub: FakeHub) -> None:
    make_tiny(hub, "acme/a")
    assert cli("add", "acme/a").exit_code == 0
    assert cli("sync").exit_code == 0
    marker = project / "models" / "a" / MARKER
    marker.chmod(0o644)
    marker.unlink()  # the directory is no longer modellock's
    assert cli("remove", "a").exit_code == 0
    run = cli("sync")
    assert run.exit_code == 0 and " - a@" not in run.stdout
    assert (project / "models" / "a" / "config.json").exists()


def test_target_that_is_a_file_is_refused(locked: Path) -> None:
    (locked / "models").mkdir()
    (locked / "models" / "tiny").write_text("not a directory")
    before = snapshot(locked)
    run = cli("sync")
    assert run.exit_code == 1 and "exists and is not a directory" in run.stderr
    assert snapshot(locked) == before
