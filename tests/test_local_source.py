"""Local models: a directory's files locked by digest, installed from the store, proved by re-hashing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modellock.project.lockread import read_lock
from tests.helpers import cli, snapshot
from tests.registry import LocalRegistry

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tiny-model"


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with a copy of the example model in `weights/tiny`, and a private store."""
    root = tmp_path / "project"
    shutil.copytree(EXAMPLE, root / "weights" / "tiny")
    (root / "weights" / "tiny" / "sub").mkdir()
    (root / "weights" / "tiny" / "sub" / "notes.txt").write_text("hello\n")
    monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # no Hub: nothing here may need it
    monkeypatch.chdir(root)
    assert cli("init").exit_code == 0
    return root


def installed(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(root).items() if not k.startswith(".modellock")}


def test_add_locks_the_selected_files_with_the_path_relative_to_the_project(local: Path) -> None:
    added = cli("add", "./weights/tiny", "--exclude", "*.txt")
    assert added.exit_code == 0, added.stderr
    manifest = Path("modellock.toml").read_text()
    assert 'repo = "weights/tiny"' in manifest and 'source = "local"' in manifest
    lock = read_lock(Path("modellock.lock"))
    assert lock is not None
    (model,) = lock.models
    assert (model.name, model.source, model.repo, model.requested) == ("tiny", "local", "weights/tiny", "latest")
    assert [f.path for f in model.files] == ["config.json", "model.safetensors", "tokenizer.json"]
    assert {f.path: f.format for f in model.files}["model.safetensors"] == "safetensors"
    assert cli("sync").exit_code == 0
    assert installed(Path("models/tiny")) == {p.name: p.read_bytes() for p in EXAMPLE.iterdir()}
    assert cli("verify").exit_code == 0
    assert cli("status").exit_code == 0
    assert cli("lock", "--check").exit_code == 0
    assert cli("lock", "--check", "--remote").exit_code == 0


def test_file_urls_and_directories_outside_the_project(local: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    shutil.copytree(EXAMPLE, outside)
    assert cli("add", outside.as_uri(), "--name", "far").exit_code == 0
    assert f'repo = "{outside.as_posix()}"' in Path("modellock.toml").read_text()
    assert cli("sync").exit_code == 0
    assert installed(Path("models/far")) == {p.name: p.read_bytes() for p in EXAMPLE.iterdir()}


def test_a_symlink_inside_the_directory_is_refused_and_nothing_is_written(local: Path) -> None:
    (local / "weights" / "tiny" / "linked.json").symlink_to("/etc/hostname")
    before = snapshot(local)
    added = cli("add", "./weights/tiny")
    assert added.exit_code == 1
    assert "linked.json is a symbolic link" in added.stderr and "hint:" in added.stderr
    assert snapshot(local) == before


def test_sync_on_a_fresh_store_copies_from_the_directory_and_refuses_changed_bytes(
    local: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("add", "./weights/tiny").exit_code == 0
    monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(tmp_path / "store-2"))
    original = (EXAMPLE / "config.json").read_bytes()
    (local / "weights" / "tiny" / "config.json").write_bytes(original.replace(b"example", b"exampl3"))  # same size
    synced = cli("sync")
    assert synced.exit_code == 1
    assert "mismatch" in synced.stderr
    assert not Path("models/tiny").exists()
    shutil.copy(EXAMPLE / "config.json", local / "weights" / "tiny" / "config.json")
    assert cli("sync").exit_code == 0
    assert cli("verify").exit_code == 0


def test_remote_proof_rehashes_the_directory(local: Path) -> None:
    assert cli("add", "./weights/tiny").exit_code == 0
    (local / "weights" / "tiny" / "tokenizer.json").write_bytes(b"x" * (EXAMPLE / "tokenizer.json").stat().st_size)
    proof = cli("lock", "--check", "--remote")
    assert proof.exit_code == 1
    assert "tokenizer.json in weights/tiny hashes to" in proof.stderr
    (local / "weights" / "tiny" / "sub" / "notes.txt").unlink()
    proof = cli("lock", "--check", "--remote")
    assert "sub/notes.txt is not in weights/tiny any more" in proof.stderr


def test_a_changed_directory_is_not_built_on_until_upgraded(local: Path) -> None:
    assert cli("add", "./weights/tiny").exit_code == 0
    (local / "weights" / "tiny" / "new.json").write_text("{}")
    text = (
        Path("modellock.toml")
        .read_text()
        .replace('repo = "weights/tiny"', 'repo = "weights/tiny"\ninclude = ["*.json"]')
    )
    Path("modellock.toml").write_text(text)
    relock = cli("lock")
    assert relock.exit_code == 1
    assert "changed since it was locked" in relock.stderr and "--upgrade" in relock.stderr
    upgraded = cli("lock", "--upgrade")
    assert upgraded.exit_code == 0, upgraded.stderr
    lock = read_lock(Path("modellock.lock"))
    assert lock is not None and "new.json" in [f.path for f in lock.models[0].files]


def test_manifest_keys_that_mean_nothing_for_a_directory_are_refused(local: Path) -> None:
    Path("modellock.toml").write_text('[models.tiny]\nsource = "local"\nrepo = "weights/tiny"\nrevision = "v1"\n')
    run = cli("lock")
    assert run.exit_code == 2
    assert "`revision` applies to Hugging Face models only" in run.stderr


def test_boms_of_a_local_model_claim_no_hub_and_leak_no_path(local: Path, tmp_path: Path) -> None:
    outside = tmp_path / "private-dir"
    shutil.copytree(EXAMPLE, outside)
    assert cli("add", outside.as_uri(), "--name", "far").exit_code == 0
    for fmt in ("cyclonedx1.6", "spdx3"):
        run = cli("export", "--format", fmt)
        assert run.exit_code == 0, run.stderr
        assert "huggingface" not in run.stdout and "private-dir" not in run.stdout
        assert '"far"' in run.stdout


def test_a_local_model_pushed_to_a_registry_syncs_from_it_without_the_directory(
    local: Path, registry: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("add", "./weights/tiny", "--exclude", "*.txt").exit_code == 0
    pushed = cli("push", f"{registry.url}/fleet")
    assert pushed.exit_code == 0, pushed.stderr
    assert "/fleet/local/tiny@sha256:" in pushed.stdout
    shutil.rmtree(local / "weights")
    monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(tmp_path / "store-2"))
    synced = cli("sync", "--locked", "--registry", f"{registry.url}/fleet")
    assert synced.exit_code == 0, synced.stderr
    assert installed(Path("models/tiny")) == {p.name: p.read_bytes() for p in EXAMPLE.iterdir()}


def test_outdated_says_whether_the_directory_changed_since_the_lock(local: Path) -> None:
    assert cli("add", "./weights/tiny").exit_code == 0
    assert "up to date" in cli("outdated").stdout
    (local / "weights" / "tiny" / "new.json").write_text("{}")
    run = cli("outdated")
    assert "tiny weights/tiny latest" in run.stdout and "->" in run.stdout


def test_lock_offline_reads_the_directory(local: Path) -> None:
    assert cli("add", "./weights/tiny").exit_code == 0
    (local / "weights" / "tiny" / "new.json").write_text("{}")
    run = cli("lock", "--offline", "--upgrade")
    assert run.exit_code == 0, run.stderr
    lock = read_lock(Path("modellock.lock"))
    assert lock is not None and "new.json" in [f.path for f in lock.models[0].files]


def test_the_guard_table_holds_no_local_model(local: Path) -> None:
    from modellock.runtime.table import guard_table

    assert cli("add", "./weights/tiny").exit_code == 0
    lock = read_lock(Path("modellock.lock"))
    assert lock is not None
    assert guard_table(lock, local, local / "modellock.lock").entries == ()


def test_a_signed_directory_is_locked_with_its_signer_pinned_and_a_change_refused(
    local: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_sign import key_pair

    private, public = key_pair(tmp_path)
    model = local / "weights" / "tiny"
    (model / "sub" / "notes.txt").unlink()
    assert cli("sign", str(model), "--key", str(private)).exit_code == 0
    assert (model / "model.sig").is_file()
    added = cli("add", "./weights/tiny", "--public-key", str(public))
    assert added.exit_code == 0, added.stderr
    lock = read_lock(Path("modellock.lock"))
    assert lock is not None and lock.models[0].signature is not None
    assert lock.models[0].signature.mode == "key"
    (model / "tokenizer.json").write_bytes((EXAMPLE / "tokenizer.json").read_bytes() + b" ")
    relocked = cli("lock", "--upgrade")
    assert relocked.exit_code == 1  # the signature no longer covers the directory's bytes
