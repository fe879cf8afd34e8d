"""The shipped pre-commit hooks, run by the real `pre-commit` tool in a temporary git repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import cli
from tests.hub import FakeHub
from tests.test_lock_e2e import make_tiny

HOOKS = Path(__file__).parent.parent / ".pre-commit-hooks.yaml"
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _config(hook_args: dict[str, list[str]]) -> str:
    """The shipped hooks as a `repo: local` config (language: system: offline, modellock from this venv)."""
    hooks: list[dict[str, Any]] = yaml.safe_load(HOOKS.read_text())
    local = []
    for hook in hooks:
        hook = {**hook, "language": "system"}
        if hook["id"] in hook_args:
            hook["args"] = hook_args[hook["id"]]
        local.append(hook)
    return yaml.safe_dump({"repos": [{"repo": "local", "hooks": local}]})


@pytest.fixture
def repo(project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository whose model project lives in `ml/`, locked and committed."""
    make_tiny(hub)
    root = project
    (root / "ml").mkdir()
    monkeypatch.chdir(root / "ml")
    assert cli("add", "acme/tiny", "--include", "*.json").exit_code == 0
    monkeypatch.chdir(root)
    _git(root, "init", "-q")
    _git(root, "config", "user.email", "t@example.com")
    _git(root, "config", "user.name", "t")
    return root


def _run(repo: Path, hub: FakeHub, tmp_path: Path, *hook: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "HF_ENDPOINT": hub.endpoint,
    }
    _git(repo, "add", "-A")
    return subprocess.run(
        ["pre-commit", "run", *hook, "--all-files", "--color", "never"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_hook_passes_on_an_intact_lock_in_a_subdirectory_and_fails_on_an_edit(
    repo: Path, hub: FakeHub, tmp_path: Path
) -> None:
    (repo / ".pre-commit-config.yaml").write_text(_config({"modellock-check": ["--quiet"]}))
    run = _run(repo, hub, tmp_path, "modellock-check")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Passed" in run.stdout
    lock = repo / "ml" / "modellock.lock"
    lock.write_text(lock.read_text().replace('"config.json", size = ', '"config.json", size = 1'))
    before = lock.read_bytes()
    run = _run(repo, hub, tmp_path, "modellock-check")
    assert run.returncode == 1
    assert "Failed" in run.stdout and "ml/modellock.lock" in run.stdout
    assert lock.read_bytes() == before  # the check hook writes nothing


def test_lock_hook_rewrites_a_stale_lock_then_passes(repo: Path, hub: FakeHub, tmp_path: Path) -> None:
    (repo / ".pre-commit-config.yaml").write_text(_config({"modellock-lock": ["-p", "ml"]}))
    manifest = repo / "ml" / "modellock.toml"
    manifest.write_text(manifest.read_text().replace('include = ["*.json"]', 'include = ["config.json"]'))
    run = _run(repo, hub, tmp_path, "modellock-lock")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "files were modified by this hook" in run.stdout
    assert "sub/dir/extra.json" not in (repo / "ml" / "modellock.lock").read_text()
    assert not (repo / "modellock.lock").exists()  # locked in its own project, not at the repository root
    again = _run(repo, hub, tmp_path, "modellock-lock")
    assert again.returncode == 0, again.stdout + again.stderr
