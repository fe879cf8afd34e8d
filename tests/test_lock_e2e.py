"""End to end: the CLI against the local Hub through the real huggingface_hub client."""

from __future__ import annotations

import hashlib
from pathlib import Path

import blake3

from modellock.project.lockread import read_lock
from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.samples import weights

CONFIG = b'{"model_type": "bert"}\n'
WEIGHTS = weights(bytes(range(256)) * 4096)


def make_tiny(hub: FakeHub, repo_id: str = "acme/tiny") -> str:
    repo = hub.repo(repo_id)
    return repo.commit({"config.json": CONFIG, "model.safetensors": WEIGHTS, "sub/dir/extra.json": b"{}"})


def test_add_lock_check(project: Path, hub: FakeHub) -> None:
    commit = make_tiny(hub)
    run = cli("add", "acme/tiny")
    assert run.exit_code == 0, run.stderr
    assert f"Added tiny main {commit[:7]} (3 files" in run.stdout
    lock = read_lock(project / "modellock.lock")
    assert lock is not None
    model = lock.get("tiny")
    assert model is not None and model.commit == commit and model.requested == "main"
    files = {f.path: f for f in model.files}
    assert files["model.safetensors"].blake3 == blake3.blake3(WEIGHTS).hexdigest()
    assert files["model.safetensors"].sha256 == hashlib.sha256(WEIGHTS).hexdigest()
    assert files["config.json"].size == len(CONFIG)
    check = cli("lock", "--check")
    assert check.exit_code == 0, check.stderr
    assert "up to date (1 model, 3 files)" in check.stdout
    # Downloads go by commit, never by branch (a branch can move between two requests).
    resolves = [p for m, p in hub.requests if "/resolve/" in p]
    assert resolves and all(f"/resolve/{commit}/" in p for p in resolves)


def test_lock_is_deterministic_and_relock_is_offline(project: Path, hub: FakeHub, tmp_path: Path) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    first = (project / "modellock.lock").read_bytes()
    hub.requests.clear()
    run = cli("lock")
    assert run.exit_code == 0
    assert hub.requests == []  # sticky and fresh: no network at all
    assert (project / "modellock.lock").read_bytes() == first
    assert b"\r" not in first and b"endpoint" not in first and b"127.0.0.1" not in first


def test_branch_moves_lock_is_sticky_until_upgrade(project: Path, hub: FakeHub) -> None:
    old = make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    new = hub.repos[("model", "acme/tiny")].commit({"config.json": b'{"v": 2}\n'}, keep=True)
    run = cli("lock")
    assert run.exit_code == 0
    assert read_lock(project / "modellock.lock").get("tiny").commit == old  # type: ignore[union-attr]
    assert cli("lock", "--check").exit_code == 0  # a new upstream commit never makes the lock stale
    hub.requests.clear()
    run = cli("lock", "--upgrade")
    assert run.exit_code == 0, run.stderr
    assert f"Updated tiny main {old[:7]} -> {new[:7]}" in run.stdout
    assert read_lock(project / "modellock.lock").get("tiny").commit == new  # type: ignore[union-attr]
    # Unchanged LFS weights were not downloaded again.
    downloads = [p for _, p in hub.requests if "/resolve/" in p or "/blobs/" in p]
    assert downloads == [f"/acme/tiny/resolve/{new}/config.json"]


def test_upgrade_model_moves_only_that_model(project: Path, hub: FakeHub) -> None:
    make_tiny(hub, "acme/tiny")
    make_tiny(hub, "acme/other")
    assert cli("add", "acme/tiny").exit_code == 0
    assert cli("add", "acme/other").exit_code == 0
    hub.repos[("model", "acme/tiny")].commit({"a.json": b"1"}, keep=True)
    new_other = hub.repos[("model", "acme/other")].commit({"a.json": b"2"}, keep=True)
    run = cli("lock", "--upgrade-model", "other")
    assert run.exit_code == 0, run.stderr
    lock = read_lock(project / "modellock.lock")
    assert lock is not None and lock.get("other").commit == new_other  # type: ignore[union-attr]
    assert "Updated other" in run.stdout and "Updated tiny" not in run.stdout
    bad = cli("lock", "--upgrade-model", "nope")
    assert bad.exit_code == 2 and "nope" in bad.stderr


def test_corrupt_bytes_are_refused_and_nothing_is_written(project: Path, hub: FakeHub, tmp_path: Path) -> None:
    make_tiny(hub)
    hub.faults.corrupt.add("model.safetensors")
    store = tmp_path / "store"
    run = cli("add", "acme/tiny")
    assert run.exit_code == 1
    assert "model.safetensors" in run.stderr and "SHA-256 mismatch" in run.stderr
    assert not (project / "modellock.lock").exists()
    assert not (project / "modellock.toml").exists()  # `add` put the manifest back as it was
    blobs = snapshot(store / "blobs")
    assert blake3.blake3(WEIGHTS).hexdigest() not in " ".join(blobs)
    assert snapshot(store / "tmp") == {}


def test_corrupt_regular_file_caught_by_git_sha1(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    hub.faults.corrupt.add("config.json")
    cli("init")
    manifest = project / "modellock.toml"
    manifest.write_text(manifest.read_text() + '\n[models.tiny]\nrepo = "acme/tiny"\n')
    before = manifest.read_bytes()
    run = cli("lock")
    assert run.exit_code == 1
    assert "config.json" in run.stderr and "git blob SHA-1 mismatch" in run.stderr
    assert not (project / "modellock.lock").exists()
    assert manifest.read_bytes() == before


def test_oversized_body_is_refused(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    hub.faults.extra_bytes.add("model.safetensors")
    run = cli("add", "acme/tiny")
    assert run.exit_code == 1 and "larger than" in run.stderr
    assert not (project / "modellock.lock").exists()


def test_dropped_connection_resumes_with_range(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    hub.faults.drop_after["model.safetensors"] = 300_000
    run = cli("add", "acme/tiny")
    assert run.exit_code == 0, run.stderr
    assert len([p for m, p in hub.requests if "/blobs/" in p]) == 2
    assert len(hub.ranges) == 1 and hub.ranges[0].startswith("bytes=") and hub.ranges[0] != "bytes=0-"
    model = read_lock(project / "modellock.lock").get("tiny")  # type: ignore[union-attr]
    assert {f.path: f.blake3 for f in model.files}["model.safetensors"] == blake3.blake3(WEIGHTS).hexdigest()


def test_server_ignoring_range_restarts_cleanly(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    hub.faults.drop_after["model.safetensors"] = 300_000
    hub.faults.ignore_range = True
    run = cli("add", "acme/tiny")
    assert run.exit_code == 0, run.stderr
    model = read_lock(project / "modellock.lock").get("tiny")  # type: ignore[union-attr]
    assert {f.path: f.sha256 for f in model.files}["model.safetensors"] == hashlib.sha256(WEIGHTS).hexdigest()


def test_5xx_is_retried(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    hub.faults.status["model.safetensors"] = [503, 502]
    run = cli("add", "acme/tiny")
    assert run.exit_code == 0, run.stderr


def test_persistent_5xx_fails_with_network_error(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    hub.faults.status["config.json"] = [503] * 10
    run = cli("add", "acme/tiny")
    assert run.exit_code == 2
    assert "could not download config.json" in run.stderr
    assert not (project / "modellock.lock").exists()


def test_branch_moved_between_calls_locks_one_consistent_commit(project: Path, hub: FakeHub) -> None:
    first = make_tiny(hub)
    repo = hub.repos[("model", "acme/tiny")]

    def move(r: object, commit: str) -> None:
        if repo.branches["main"] == first:
            repo.commit({"config.json": b'{"moved": true}\n'}, keep=True)

    hub.faults.after_revision = move
    assert cli("add", "acme/tiny").exit_code == 0
    model = read_lock(project / "modellock.lock").get("tiny")  # type: ignore[union-attr]
    assert model.commit == first
    assert {f.path: f.size for f in model.files}["config.json"] == len(CONFIG)


def test_hand_edited_lock_fails_check(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    lock = project / "modellock.lock"
    text = lock.read_text()
    digest = blake3.blake3(WEIGHTS).hexdigest()
    lock.write_text(text.replace(digest, "0" * 64))
    run = cli("lock", "--check")
    assert run.exit_code == 1
    assert "tiny: its file entries do not match its content digest" in run.stderr


def test_reformatted_lock_fails_check(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    lock = project / "modellock.lock"
    lock.write_text(lock.read_text().replace("version = 2", "version   = 2"))
    run = cli("lock", "--check")
    assert run.exit_code == 1 and "canonical" in run.stderr


def test_manifest_change_makes_lock_stale(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    manifest = project / "modellock.toml"
    manifest.write_text(manifest.read_text().replace('repo = "acme/tiny"', 'repo = "acme/tiny"\ninclude = ["*.json"]'))
    run = cli("lock", "--check")
    assert run.exit_code == 1 and "tiny: changed in the manifest since it was locked" in run.stderr
    hub.requests.clear()
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    # The selection narrowed at the same commit: no resolve, no download.
    assert not any("/resolve/" in p or "/revision/" in p for _, p in hub.requests)
    model = read_lock(project / "modellock.lock").get("tiny")  # type: ignore[union-attr]
    assert [f.path for f in model.files] == ["config.json", "sub/dir/extra.json"]
    assert cli("lock", "--check").exit_code == 0


def test_remove(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    run = cli("remove", "tiny")
    assert run.exit_code == 0
    assert read_lock(project / "modellock.lock").models == ()  # type: ignore[union-attr]
    assert "acme/tiny" not in (project / "modellock.toml").read_text()
    assert cli("lock", "--check").exit_code == 0


def test_traversal_path_is_refused(project: Path, hub: FakeHub) -> None:
    hub.repo("evil/repo").commit({"config.json": b"{}", "../../escape.sh": b"#!/bin/sh\n"})
    run = cli("add", "evil/repo")
    assert run.exit_code == 1
    assert "../../escape.sh" in run.stderr and "unsafe" in run.stderr
    assert not (project / "modellock.lock").exists()


def test_case_collision_is_refused(project: Path, hub: FakeHub) -> None:
    hub.repo("evil/case").commit({"Model.json": b"1", "model.json": b"2"})
    run = cli("add", "evil/case")
    assert run.exit_code == 1 and "collide" in run.stderr


def test_gated_repo_without_token(project: Path, hub: FakeHub) -> None:
    make_tiny(hub, "acme/gated")
    hub.repos[("model", "acme/gated")].gated = True
    run = cli("add", "acme/gated")
    assert run.exit_code == 2
    assert "acme/gated is gated" in run.stderr and "HF_TOKEN" in run.stderr
    assert not (project / "modellock.lock").exists()


def test_gated_repo_with_token(project: Path, hub: FakeHub, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    make_tiny(hub, "acme/gated")
    repo = hub.repos[("model", "acme/gated")]
    repo.gated = True
    repo.tokens.add("hf_secret_token_value")
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token_value")
    run = cli("add", "acme/gated")
    assert run.exit_code == 2 and "gated" in run.stderr
    assert "hf_wrong_token_value" not in run.stderr + run.stdout
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token_value")
    run = cli("add", "acme/gated")
    assert run.exit_code == 0, run.stderr
    assert "hf_secret" not in (project / "modellock.lock").read_text() + run.stdout + run.stderr


def test_private_repo_and_missing_things(project: Path, hub: FakeHub) -> None:
    make_tiny(hub, "acme/private")
    hub.repos[("model", "acme/private")].private = True
    run = cli("add", "acme/private")
    assert run.exit_code == 2 and "repository acme/private not found" in run.stderr
    run = cli("add", "acme/missing")
    assert run.exit_code == 2 and "repository acme/missing not found" in run.stderr
    make_tiny(hub)
    run = cli("add", "acme/tiny@no-such-branch")
    assert run.exit_code == 2 and "revision 'no-such-branch' not found" in run.stderr


def test_network_down(project: Path, hub: FakeHub, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    run = cli("add", "acme/tiny")
    assert run.exit_code == 2 and "cannot reach the Hub" in run.stderr


def test_revisions_tags_prs_and_datasets(project: Path, hub: FakeHub) -> None:
    repo = hub.repo("acme/tiny")
    c1 = repo.commit({"a.json": b"1"})
    repo.tags["v1.0"] = c1
    c2 = repo.commit({"a.json": b"2"}, branch="feature/x")
    repo.prs[1] = c2
    data = hub.repo("acme/data", repo_type="dataset")
    c3 = data.commit({"train.csv": b"a,b\n"})
    assert cli("add", "acme/tiny@v1.0", "--name", "tagged").exit_code == 0
    assert cli("add", "acme/tiny", "--revision", "feature/x", "--name", "branch").exit_code == 0
    assert cli("add", "https://huggingface.co/acme/tiny/tree/refs%2Fpr%2F1", "--name", "pr").exit_code == 0
    assert cli("add", f"acme/tiny@{c1}", "--name", "pinned").exit_code == 0
    run = cli("add", "hf://datasets/acme/data")
    assert run.exit_code == 0, run.stderr
    lock = read_lock(project / "modellock.lock")
    assert lock is not None
    got = {m.name: (m.requested, m.commit, m.repo_type) for m in lock.models}
    assert got == {
        "tagged": ("v1.0", c1, "model"),
        "branch": ("feature/x", c2, "model"),
        "pr": ("refs/pr/1", c2, "model"),
        "pinned": (c1, c1, "model"),
        "data": ("main", c3, "dataset"),
    }


def test_include_exclude_select(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/multi").commit(
        {
            "config.json": b"{}",
            "model.safetensors": weights(b"w" * 10),
            "pytorch_model.bin": b"p" * 10,
            "onnx/model.onnx": b"o" * 10,
            "onnx/sub/config.json": b"{}",
        }
    )
    run = cli("add", "acme/multi", "--include", "*.json", "--include", "*.safetensors", "--exclude", "onnx/")
    assert run.exit_code == 0, run.stderr
    model = read_lock(project / "modellock.lock").get("multi")  # type: ignore[union-attr]
    assert [f.path for f in model.files] == ["config.json", "model.safetensors"]
    run = cli("add", "acme/multi", "--name", "none", "--include", "*.gguf")
    assert run.exit_code == 2 and "select none" in run.stderr


def test_large_tree_is_listed_without_per_file_calls(project: Path, hub: FakeHub) -> None:
    hub.page_size = 100
    hub.repo("acme/many").commit({f"shard/{i:05d}.json": str(i).encode() for i in range(250)})
    run = cli("add", "acme/many")
    assert run.exit_code == 0, run.stderr
    api_calls = [p for _, p in hub.requests if p.startswith("/api/")]
    assert len(api_calls) == 5  # one revision lookup, three pages of tree, one card lookup (lineage)
    assert len(read_lock(project / "modellock.lock").get("many").files) == 250  # type: ignore[union-attr]


def test_dry_run_reports_and_writes_nothing(project: Path, hub: FakeHub, tmp_path: Path) -> None:
    old = make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    new = hub.repos[("model", "acme/tiny")].commit({"config.json": b"{}", "big.safetensors": weights(b"x" * 5000)})
    before = snapshot(project)
    store_before = snapshot(tmp_path / "store" / "blobs")
    run = cli("lock", "--upgrade", "--dry-run")
    assert run.exit_code == 0, run.stderr
    assert f"Would update tiny main {old[:7]} -> {new[:7]}" in run.stdout
    assert "No lock written (--dry-run)" in run.stdout
    assert snapshot(project) == before
    assert snapshot(tmp_path / "store" / "blobs") == store_before
    assert cli("lock", "--check", "--upgrade").exit_code == 2
