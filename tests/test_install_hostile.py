"""A hostile tree, cache or store: nothing is followed, nothing outside is touched, nothing is taken over."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import blake3
import pytest

from modellock.project.lockread import read_lock
from modellock.store.blobs import Store
from tests.helpers import cli, reseal, snapshot
from tests.hub import FakeHub
from tests.test_hf_cache import add_hf_cache_model
from tests.test_lock_e2e import WEIGHTS, make_tiny


@pytest.fixture
def locked(project: Path, hub: FakeHub) -> Path:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    return project


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory no command may write to, with a secret file in it."""
    root = tmp_path / "outside"
    root.mkdir()
    (root / "secret.txt").write_bytes(b"do not copy me")
    return root


@pytest.mark.parametrize("content", ["empty-dir", "symlink", "dangling-symlink"])
def test_a_directory_holding_anything_is_not_taken_over(locked: Path, outside: Path, content: str) -> None:
    target = locked / "models" / "tiny"
    target.mkdir(parents=True)
    if content == "empty-dir":
        (target / "keep").mkdir()
    elif content == "symlink":
        (target / "link").symlink_to(outside)
    else:
        (target / "link").symlink_to(outside / "nothing")
    before = sorted(os.listdir(target))
    run = cli("sync")
    assert run.exit_code == 1 and "holds files modellock did not install" in run.stderr
    assert sorted(os.listdir(target)) == before
    assert snapshot(outside) == {"secret.txt": b"do not copy me"}


def test_planted_directory_symlink_is_reported_and_removed(locked: Path, outside: Path) -> None:
    assert cli("sync").exit_code == 0
    target = locked / "models" / "tiny"
    (target / "sub" / "planted").symlink_to(outside, target_is_directory=True)
    for command in ("verify", "status"):
        run = cli(command)
        assert run.exit_code == 1, command
        assert "sub/planted" in run.stdout + run.stderr
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    assert not os.path.lexists(target / "sub" / "planted")
    assert snapshot(outside) == {"secret.txt": b"do not copy me"}
    assert cli("verify").exit_code == 0


def test_locked_file_replaced_by_symlink_is_modified(locked: Path, outside: Path) -> None:
    assert cli("sync").exit_code == 0
    target = locked / "models" / "tiny"
    # Same bytes, but a link that can be re-pointed later: never an installed file.
    (outside / "config.json").write_bytes((target / "config.json").read_bytes())
    (target / "config.json").unlink()
    (target / "config.json").symlink_to(outside / "config.json")
    for command in ("verify", "status"):
        run = cli(command)
        assert run.exit_code == 1 and "config.json" in run.stdout, command
    assert cli("sync").exit_code == 0
    assert not (target / "config.json").is_symlink()


def test_inexact_never_copies_through_a_planted_link(locked: Path, outside: Path, hub: FakeHub) -> None:
    assert cli("sync").exit_code == 0
    target = locked / "models" / "tiny"
    (target / "notes.txt").write_bytes(b"mine")
    (target / "leak.txt").symlink_to(outside / "secret.txt")
    hub.repos[("model", "acme/tiny")].commit({"config.json": b'{"v": 2}\n'}, keep=True)
    assert cli("lock", "--upgrade").exit_code == 0
    run = cli("sync", "--inexact")
    assert run.exit_code == 0, run.stderr
    assert (target / "notes.txt").read_bytes() == b"mine"
    assert not os.path.lexists(target / "leak.txt")
    assert b"do not copy me" not in b"".join(snapshot(target).values())


@pytest.mark.parametrize("part", ["refs", "blobs", "snapshots", "repo"])
def test_hf_cache_parts_that_are_symlinks_are_refused(project: Path, hub: FakeHub, outside: Path, part: str) -> None:
    add_hf_cache_model(project, hub)
    cache = project / "hf"
    repo = cache / "models--acme--tiny"
    victim = repo / part if part != "repo" else repo
    os.rename(victim, outside / "moved")
    victim.symlink_to(outside / "moved", target_is_directory=True)
    before = snapshot(outside)
    # Force a reinstall: the new commit needs new blobs, a new snapshot and a new ref.
    hub.repos[("model", "acme/tiny")].commit({"config.json": b'{"v": 3}\n'}, keep=True)
    assert cli("lock", "--upgrade").exit_code == 0
    run = cli("sync")
    assert run.exit_code == 1, run.stdout
    assert "is a symlink; modellock never writes through one" in run.stderr
    assert snapshot(outside) == before


def test_store_blob_replaced_by_symlink_is_evicted_not_linked(locked: Path, outside: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    b3 = blake3.blake3(WEIGHTS).hexdigest()
    blob = store.blob_path(b3)
    decoy = outside / "weights"
    decoy.write_bytes(WEIGHTS)
    os.utime(decoy, ns=(123, 123))
    os.chmod(blob, 0o644)
    blob.unlink()
    blob.symlink_to(decoy)
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    installed = locked / "models" / "tiny" / "model.safetensors"
    assert not installed.is_symlink() and installed.read_bytes() == WEIGHTS
    assert not blob.is_symlink()
    assert decoy.stat().st_mtime_ns == 123  # never re-sealed through the link


def test_sync_never_indexes_a_sha256_it_did_not_compute(
    locked: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lock that pairs a victim file's SHA-256 with other bytes must neither install nor teach the store that pairing.
    victim = b"victim weights " * 100
    victim_sha = hashlib.sha256(victim).hexdigest()
    lock = locked / "modellock.lock"
    real_sha = hashlib.sha256(WEIGHTS).hexdigest()
    lock.write_text(lock.read_text().replace(real_sha, victim_sha))
    reseal(lock)
    monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(tmp_path / "fresh"))
    run = cli("sync", "--frozen")
    assert run.exit_code == 1 and "SHA-256 mismatch: the lock says" in run.stderr
    assert not (locked / "models").exists()
    store = Store(tmp_path / "fresh")
    assert store.lookup("sha256", victim_sha, len(WEIGHTS)) is None


EVIL = WEIGHTS[:-1] + bytes([WEIGHTS[-1] ^ 1])  # same size, one bit flipped


def test_a_lock_pairing_other_bytes_with_the_hubs_sha256_is_refused(locked: Path, hub: FakeHub) -> None:
    # The shared store already holds the attacker's bytes (another project synced a repo with them).
    hub.repo("mallory/bait").commit({"model.safetensors": EVIL})
    (locked / "bait").mkdir()
    (locked / "bait" / "modellock.toml").write_text('[models.bait]\nrepo = "mallory/bait"\n')
    assert cli("-p", "bait", "sync").exit_code == 0
    # The pull request swaps only the BLAKE3: the SHA-256 stays the Hub's, so --remote has nothing to see.
    lock = locked / "modellock.lock"
    lock.write_text(lock.read_text().replace(blake3.blake3(WEIGHTS).hexdigest(), blake3.blake3(EVIL).hexdigest()))
    reseal(lock)
    before = snapshot(locked / "models") if (locked / "models").exists() else {}
    for args in (("sync", "--locked"), ("sync", "--frozen")):
        run = cli(*args)
        assert run.exit_code == 1, run.stdout
        assert "the lock pairs BLAKE3" in run.stderr and "model.safetensors" in run.stderr
    assert (snapshot(locked / "models") if (locked / "models").exists() else {}) == before


def test_a_planted_index_entry_is_not_believed(locked: Path, hub: FakeHub, tmp_path: Path) -> None:
    # Someone who can write the store plants the attacker's blob under the real file's SHA-256 index entry.
    store = Store(tmp_path / "store")
    real_sha = hashlib.sha256(WEIGHTS).hexdigest()
    evil_b3 = blake3.blake3(EVIL).hexdigest()
    blob = store.blob_path(evil_b3)
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(EVIL)
    entry = tmp_path / "store" / "index" / "sha256" / real_sha[:2] / real_sha
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text(f"{evil_b3} {real_sha} {len(EVIL)}\n")
    (locked / "modellock.lock").unlink()
    assert cli("lock").exit_code == 0
    files = {f.path: f for f in read_lock(locked / "modellock.lock").get("tiny").files}  # type: ignore[union-attr]
    assert files["model.safetensors"].blake3 == blake3.blake3(WEIGHTS).hexdigest()


def test_prune_waits_for_a_running_lock_or_sync(tmp_path: Path) -> None:
    from modellock.ops.cache import prune_store

    store = Store(tmp_path / "store")
    fresh = store.blob_path("ab" * 32)
    fresh.parent.mkdir(parents=True)
    fresh.write_bytes(b"just downloaded, not locked yet")
    done = threading.Event()
    with store.held():
        worker = threading.Thread(target=lambda: (prune_store(store), done.set()))
        worker.start()
        assert not done.wait(0.5)  # blocked while the store is held
        assert fresh.exists()
    worker.join(10)
    assert done.is_set() and not fresh.exists()


def test_a_symlink_committed_above_the_install_path_is_refused(locked: Path, outside: Path) -> None:
    (locked / "models").symlink_to(outside, target_is_directory=True)
    run = cli("sync")
    assert run.exit_code == 1 and "models is a symlink; modellock never writes through one" in run.stderr
    assert snapshot(outside) == {"secret.txt": b"do not copy me"}


def test_the_hf_cache_record_directory_as_a_symlink_is_refused(project: Path, hub: FakeHub, outside: Path) -> None:
    add_hf_cache_model(project, hub)
    records = project / "hf" / "models--acme--tiny" / ".modellock"
    os.rename(records, outside / "records")
    records.symlink_to(outside / "records", target_is_directory=True)
    before = snapshot(outside)
    hub.repos[("model", "acme/tiny")].commit({"config.json": b'{"v": 4}\n'}, keep=True)
    assert cli("lock", "--upgrade").exit_code == 0
    run = cli("sync")
    assert run.exit_code == 1 and ".modellock is a symlink" in run.stderr
    assert snapshot(outside) == before


def test_a_store_inside_the_project_is_believed_only_after_hashing(
    locked: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pull request ships `[settings] store = ".cache"` with the attacker's blob and forged records in it.
    monkeypatch.delenv("MODELLOCK_CACHE_DIR")
    manifest = locked / "modellock.toml"
    manifest.write_text('[settings]\nstore = ".cache"\n' + manifest.read_text())
    evil_b3, real_sha = blake3.blake3(EVIL).hexdigest(), hashlib.sha256(WEIGHTS).hexdigest()
    store = Store(locked / ".cache")
    blob = store.blob_path(evil_b3)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(EVIL)
    record = locked / ".cache" / "index" / "blake3" / evil_b3[:2] / evil_b3
    record.parent.mkdir(parents=True)
    record.write_text(f"{evil_b3} {real_sha} {len(EVIL)}\n")  # claims the real SHA-256
    lock = locked / "modellock.lock"
    lock.write_text(lock.read_text().replace(blake3.blake3(WEIGHTS).hexdigest(), evil_b3))
    reseal(lock)
    run = cli("sync", "--locked")
    assert run.exit_code == 1 and "the lock pairs BLAKE3" in run.stderr
    assert not (locked / "models").exists()
