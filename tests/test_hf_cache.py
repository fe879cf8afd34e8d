"""The `hf-cache` layout: the real huggingface_hub finds the verified files offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from modellock.project.lockread import read_lock
from modellock.store.installed import MARKER
from tests.helpers import cli
from tests.hub import FakeHub
from tests.test_lock_e2e import CONFIG, WEIGHTS, make_tiny


def add_hf_cache_model(project: Path, hub: FakeHub, revision: str = "main") -> str:
    commit = make_tiny(hub)
    assert cli("init").exit_code == 0
    manifest = project / "modellock.toml"
    manifest.write_text(
        manifest.read_text()
        + f'\n[models.tiny]\nrepo = "acme/tiny"\nrevision = "{revision}"\nlayout = "hf-cache"\npath = "hf"\n'
    )
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    return commit


def test_snapshot_download_offline_returns_the_locked_files(project: Path, hub: FakeHub) -> None:
    from huggingface_hub import hf_hub_download, snapshot_download

    commit = add_hf_cache_model(project, hub)
    cache = project / "hf"
    hub.requests.clear()
    folder = snapshot_download("acme/tiny", revision="main", cache_dir=cache, local_files_only=True)
    assert Path(folder) == cache / "models--acme--tiny" / "snapshots" / commit
    assert (Path(folder) / "model.safetensors").read_bytes() == WEIGHTS
    assert (Path(folder) / "config.json").read_bytes() == CONFIG
    assert (Path(folder) / "sub" / "dir" / "extra.json").read_bytes() == b"{}"
    path = hf_hub_download("acme/tiny", "config.json", revision=commit, cache_dir=cache, local_files_only=True)
    assert Path(path).read_bytes() == CONFIG
    assert hub.requests == []
    # The cache follows huggingface_hub's own layout: relative symlinks into blobs named by SHA-256.
    link = Path(folder) / "model.safetensors"
    assert link.is_symlink() and not Path(link.readlink()).is_absolute()
    lock = read_lock(project / "modellock.lock")
    assert lock is not None
    sha = {f.path: f.sha256 for f in lock.models[0].files}["model.safetensors"]
    assert link.resolve() == (cache / "models--acme--tiny" / "blobs" / sha).resolve()
    assert (cache / "models--acme--tiny" / "refs" / "main").read_text() == commit
    assert cli("verify").exit_code == 0 and cli("status").exit_code == 0


def test_hf_cache_repairs_a_moved_ref_and_a_swapped_blob(project: Path, hub: FakeHub) -> None:
    commit = add_hf_cache_model(project, hub)
    repo_dir = project / "hf" / "models--acme--tiny"
    (repo_dir / "refs" / "main").write_text("0" * 40)
    assert cli("sync", "--check").exit_code == 1
    lock = read_lock(project / "modellock.lock")
    assert lock is not None
    sha = {f.path: f.sha256 for f in lock.models[0].files}["config.json"]
    blob = repo_dir / "blobs" / sha
    blob.unlink()
    blob.write_bytes(b'{"model_type": "evil"}\n')
    assert "modified config.json" in cli("verify").stdout
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    assert (repo_dir / "refs" / "main").read_text() == commit
    assert blob.read_bytes() == CONFIG
    assert cli("verify").exit_code == 0


def test_hf_cache_models_share_a_cache(project: Path, hub: FakeHub) -> None:
    make_tiny(hub, "acme/one")
    make_tiny(hub, "acme/two")
    (project / "modellock.toml").write_text(
        '[models.one]\nrepo = "acme/one"\nlayout = "hf-cache"\n\n[models.two]\nrepo = "acme/two"\nlayout = "hf-cache"\n'
    )
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    cache = project / "models" / "hf-cache"
    assert sorted(p.name for p in cache.iterdir()) == ["models--acme--one", "models--acme--two"]


def _hf(hub: FakeHub, *args: str) -> subprocess.CompletedProcess[str]:
    hf = Path(sys.executable).parent / "hf"
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "NO_COLOR": "1"}
    return subprocess.run([str(hf), *args], env=env, capture_output=True, text=True, timeout=60)


def test_the_real_hf_cli_finds_exactly_the_locked_files(project: Path, hub: FakeHub) -> None:
    from huggingface_hub import scan_cache_dir

    commit = add_hf_cache_model(project, hub)
    cache = project / "hf"
    snapshot = cache / "models--acme--tiny" / "snapshots" / commit
    assert not (snapshot / MARKER).exists()
    assert (cache / "models--acme--tiny" / ".modellock" / f"{commit}.json").is_file()
    run = _hf(hub, "cache", "verify", "acme/tiny", "--cache-dir", str(cache), "--revision", commit,
              "--fail-on-extra-files", "--fail-on-missing-files")  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    info = scan_cache_dir(cache)
    assert info.warnings == []
    [repo] = info.repos
    [revision] = repo.revisions
    assert revision.commit_hash == commit and revision.nb_files == 3 and revision.refs == frozenset({"main"})


def test_status_and_verify_notice_a_moved_ref(project: Path, hub: FakeHub) -> None:
    commit = add_hf_cache_model(project, hub)
    ref = project / "hf" / "models--acme--tiny" / "refs" / "main"
    ref.write_text("f" * 40)  # what an online from_pretrained does when main moves upstream
    for command in ("status", "verify"):
        run = cli(command)
        assert run.exit_code == 1, run.stdout
        assert f"refs/main points at fffffff, locked {commit[:7]}" in run.stdout
    assert cli("sync").exit_code == 0
    assert ref.read_text() == commit and cli("status").exit_code == 0


def test_an_install_record_inside_the_snapshot_is_moved_out(project: Path, hub: FakeHub) -> None:
    commit = add_hf_cache_model(project, hub)
    repo = project / "hf" / "models--acme--tiny"
    record = repo / ".modellock" / f"{commit}.json"
    record.rename(repo / "snapshots" / commit / MARKER)  # as modellock 0.1 wrote it
    assert cli("sync", "--check").exit_code == 1
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    assert record.is_file() and not (repo / "snapshots" / commit / MARKER).exists()
