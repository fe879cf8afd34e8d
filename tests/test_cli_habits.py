"""uv habits: global flags anywhere, the project found upwards, JSON everywhere, uv-style messages."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pytest

from modellock.project.lockread import read_lock
from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.test_lock_e2e import make_tiny
from tests.test_sync import EXPECTED, tree


@pytest.fixture
def locked(project: Path, hub: FakeHub) -> Path:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    return project


def test_global_options_work_after_the_subcommand(locked: Path, tmp_path: Path) -> None:
    quiet = cli("lock", "--quiet")
    assert quiet.exit_code == 0 and quiet.stdout == ""
    assert cli("lock", "--check", "-q").stdout == ""
    os.chdir(tmp_path)
    run = cli("lock", "--check", "-p", str(locked))
    assert run.exit_code == 0, run.stderr
    assert cli("sync", "--project", str(locked), "--no-progress", "--color", "never").exit_code == 0
    assert cli("status", f"--project={locked}").exit_code == 0


def test_commands_find_the_project_from_a_subdirectory(locked: Path) -> None:
    assert cli("sync").exit_code == 0
    os.chdir(locked / "models" / "tiny" / "sub")
    for args in (("lock", "--check"), ("status",), ("verify",), ("sync", "--check"), ("lock",)):
        run = cli(*args)
        assert run.exit_code == 0, (args, run.stderr)
    assert not (locked / "models" / "tiny" / "sub" / "modellock.lock").exists()


def test_help_short_flag_and_click_errors_in_modellock_style(locked: Path) -> None:
    run = cli("sync", "-h")
    assert run.exit_code == 0 and "--reinstall" in run.stdout
    run = cli("lock", "--nope")
    assert run.exit_code == 2
    assert run.stderr.startswith("error: No such option: --nope")
    assert "hint: see `modellock lock --help`" in run.stderr
    assert "Error:" not in run.stderr and "Usage:" not in run.stderr


def test_json_failure_is_one_object_on_stdout(project: Path) -> None:
    for args in (("sync", "--format", "json"), ("verify", "--format=json"), ("lock", "--format", "json")):
        run = cli(*args)
        assert run.exit_code == 2, args
        data = json.loads(run.stdout)
        assert data["ok"] is False and data["error"] and data["hint"], args
        assert "error:" in run.stderr
    bad_flag = cli("sync", "--format", "json", "--nope")
    assert bad_flag.exit_code == 2 and json.loads(bad_flag.stdout)["ok"] is False


def test_lock_and_check_report_as_json(locked: Path) -> None:
    run = cli("lock", "--format", "json")
    data = json.loads(run.stdout)
    assert data["ok"] is True and data["changes"][0]["name"] == "tiny" and data["written"] is False
    check = json.loads(cli("lock", "--check", "--format", "json").stdout)
    assert check["ok"] is True and check["files"] == 3
    prune = json.loads(cli("cache", "prune", "--format", "json").stdout)
    assert prune["ok"] is True and prune["removed"] == 0


def test_color_flag_and_no_color(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "\x1b[1;31merror:" in cli("--color", "always", "sync").stderr
    assert "\x1b[" not in cli("sync", "--color", "never").stderr
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in cli("sync").stderr


def test_verbose_says_where_it_works_and_logs_requests(project: Path, hub: FakeHub, tmp_path: Path) -> None:
    from tests.test_sync_processes import spawn

    make_tiny(hub)
    (project / "modellock.toml").write_text('[models.tiny]\nrepo = "acme/tiny"\n')
    proc = spawn(project, hub, tmp_path / "store", "lock", "-v")
    _, err = proc.communicate(timeout=60)
    text = err.decode()
    assert proc.returncode == 0, text
    assert "debug: project ., store" in text
    assert "GET http://127.0.0.1" in text and "/api/models/acme/tiny/revision/main" in text


def test_no_updated_line_when_only_the_layout_changed(locked: Path) -> None:
    manifest = locked / "modellock.toml"
    manifest.write_text(manifest.read_text().replace('repo = "acme/tiny"', 'repo = "acme/tiny"\nlayout = "hf-cache"'))
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    assert "Updated" not in run.stdout
    assert read_lock(locked / "modellock.lock").models[0].layout == "hf-cache"  # type: ignore[union-attr]


def test_add_chooses_layout_path_repo_type_and_pickle(project: Path, hub: FakeHub) -> None:
    make_tiny(hub, "acme/data")
    hub.repos[("dataset", "acme/data")] = hub.repos.pop(("model", "acme/data"))
    hub.repos[("dataset", "acme/data")].repo_type = "dataset"
    run = cli("add", "acme/data", "--repo-type", "dataset", "--layout", "hf-cache", "--path", "hf", "--pickle", "scan")
    assert run.exit_code == 0, run.stderr
    text = (project / "modellock.toml").read_text()
    for line in ('repo-type = "dataset"', 'layout = "hf-cache"', 'path = "hf"', 'pickle = "scan"'):
        assert line in text
    assert cli("sync").exit_code == 0
    assert (project / "hf" / "datasets--acme--data" / "refs" / "main").is_file()


def test_hub_file_urls_are_refused_with_the_command_that_locks_just_that_file(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    run = cli("add", "https://huggingface.co/acme/tiny/blob/main/config.json")
    assert run.exit_code == 2
    assert "is the URL of a file in acme/tiny" in run.stderr
    assert "hint: to lock just that file: modellock add acme/tiny@main --include 'config.json'" in run.stderr
    assert not (project / "modellock.toml").exists()
    run = cli("add", "https://huggingface.co/acme/tiny/tree/main/sub")
    assert run.exit_code == 2 and "--include 'sub/**'" in run.stderr


def test_lock_offline_uses_locked_commits_and_stored_listings(locked: Path, hub: FakeHub) -> None:
    manifest = locked / "modellock.toml"
    manifest.write_text(manifest.read_text().replace('repo = "acme/tiny"', 'repo = "acme/tiny"\nexclude = ["sub/**"]'))
    hub.requests.clear()
    run = cli("lock", "--offline")
    assert run.exit_code == 0, run.stderr
    assert hub.requests == []
    assert {f.path for f in read_lock(locked / "modellock.lock").models[0].files} == {  # type: ignore[union-attr]
        "config.json",
        "model.safetensors",
    }
    make_tiny(hub, "acme/other")
    manifest.write_text(manifest.read_text() + '\n[models.other]\nrepo = "acme/other"\n')
    before = snapshot(locked)
    run = cli("lock", "--offline")
    assert run.exit_code == 2
    assert "--offline: cannot resolve acme/other@main without the network" in run.stderr
    assert snapshot(locked) == before and hub.requests == []


def test_sync_reinstall_rebuilds_and_installed_files_have_real_dates(locked: Path) -> None:
    assert cli("sync").exit_code == 0
    assert "Audited" in cli("sync").stdout
    run = cli("sync", "--reinstall")
    assert run.exit_code == 0, run.stderr
    assert "Installed 1 model" in run.stdout
    assert tree(locked / "models" / "tiny") == EXPECTED
    assert cli("verify").exit_code == 0
    for path in EXPECTED:
        assert abs((locked / "models" / "tiny" / path).stat().st_mtime - time.time()) < 3600


def test_sync_frozen_uses_the_manifests_store_setting(
    project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELLOCK_CACHE_DIR")
    make_tiny(hub)
    (project / "modellock.toml").write_text('[settings]\nstore = "store"\n')
    assert cli("add", "acme/tiny").exit_code == 0
    assert (project / "store" / "blobs").is_dir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "elsewhere"))
    run = cli("sync", "--frozen", "--offline")
    assert run.exit_code == 0, run.stderr
    assert tree(project / "models" / "tiny") == EXPECTED
    assert not (tmp_path / "elsewhere").exists()


def test_scan_labels_its_columns(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    run = cli("scan", str(tmp_path))
    assert "[format data, kind data, verdict safe]" in run.stdout


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_an_eta_and_no_progress_turns_it_off() -> None:
    from modellock.report.console import Console

    err = _Terminal()
    bar = Console(err=err, color="never").progress()
    assert bar is not None
    bar.begin("Downloading", 10_000_000, 2)
    bar.advance(2_500_000)
    time.sleep(0.2)
    bar.advance(2_500_000)
    bar.end()
    assert "eta" in err.getvalue() and "files" in err.getvalue()
    assert Console(err=_Terminal(), progress=False).progress() is None
    assert Console(err=io.StringIO()).progress() is None  # not a terminal
