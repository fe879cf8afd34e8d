"""What got in a new user's way (issue 22), each pinned: hints that name the next command that works,
uv's habits (`sync -U`, `add --no-lock`), shell completion, and output that says what happened."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from modellock.project.lockread import read_lock
from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.registry import LocalRegistry
from tests.test_gate_e2e import REAL_BIN
from tests.test_lock_e2e import make_tiny
from tests.test_oci_registry import closed_endpoint


def added(hub: FakeHub) -> str:
    commit = make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    return commit


def test_an_unreachable_hub_hints_endpoint_proxy_and_offline(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", closed_endpoint())
    run = cli("add", "acme/tiny")
    assert run.exit_code == 2 and "cannot reach the Hub" in run.stderr
    hint = run.stderr.split("hint:", 1)[1]
    assert "HF_ENDPOINT" in hint and "HTTPS_PROXY" in hint and "--offline" in hint


def test_oci_to_a_plain_http_loopback_registry_hints_http(project: Path, hub: FakeHub, registry: LocalRegistry) -> None:
    added(hub)
    run = cli("push", f"oci://{registry.host}/fleet")
    assert run.exit_code == 2 and "ConnectError" in run.stderr
    assert "hint: oci:// speaks HTTPS; a registry on this machine without TLS" in run.stderr
    assert f"http://{registry.host}/fleet" in run.stderr
    assert cli("push", f"http://{registry.host}/fleet").exit_code == 0  # the hinted address works


def test_shell_completion(project: Path) -> None:
    script = cli("completion", "bash")
    assert script.exit_code == 0 and "_MODELLOCK_COMPLETE" in script.stdout
    env = {**os.environ, "_MODELLOCK_COMPLETE": "complete_bash", "COMP_WORDS": "modellock sync --lo", "COMP_CWORD": "2"}
    run = subprocess.run([sys.executable, "-m", "modellock"], env=env, capture_output=True, text=True, timeout=60)
    assert "--locked" in run.stdout.split()
    assert cli("completion", "tcsh").exit_code == 2


def test_sync_upgrade_re_resolves_then_installs(project: Path, hub: FakeHub) -> None:
    old = added(hub)
    assert cli("sync").exit_code == 0
    new = hub.repos[("model", "acme/tiny")].commit({"config.json": b'{"v": 2}'}, keep=True)
    assert cli("sync").exit_code == 0 and read_lock(project / "modellock.lock").get("tiny").commit == old  # type: ignore[union-attr]
    run = cli("sync", "-U")
    assert run.exit_code == 0, run.stderr
    assert f"+ tiny@{new[:7]}" in run.stdout
    assert read_lock(project / "modellock.lock").get("tiny").commit == new  # type: ignore[union-attr]
    assert (project / "models" / "tiny" / "config.json").read_bytes() == b'{"v": 2}'
    refused = cli("sync", "--upgrade", "--locked")
    assert refused.exit_code == 2 and "--upgrade re-locks" in refused.stderr


def test_add_no_lock_writes_only_the_manifest(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", closed_endpoint())  # no network needed
    run = cli("add", "acme/tiny", "--no-lock", "--revision", "v1")
    assert run.exit_code == 0, run.stderr
    assert "Added tiny to modellock.toml (not locked" in run.stdout
    assert 'revision = "v1"' in (project / "modellock.toml").read_text()
    assert not (project / "modellock.lock").exists()
    assert cli("add", "acme/other", "--no-lock", "--with-bases").exit_code == 2


def test_sync_says_what_it_removed_from_a_model_directory(project: Path, hub: FakeHub) -> None:
    added(hub)
    assert cli("sync").exit_code == 0
    notes = project / "models" / "tiny" / "notes.txt"
    notes.write_text("mine")
    dry = cli("sync", "--dry-run")
    assert dry.exit_code == 0 and "would remove notes.txt" in dry.stdout and notes.exists()
    run = cli("sync")
    assert run.exit_code == 0
    assert "tiny: removed 1 file the lock does not list from models/tiny: notes.txt" in run.stderr
    assert "--inexact" in run.stderr and not notes.exists()


def test_sync_dry_run_on_a_stale_lock_shows_the_re_lock(project: Path, hub: FakeHub) -> None:
    added(hub)
    (project / "modellock.toml").write_text('[models.tiny]\nrepo = "acme/tiny"\ninclude = ["*.json"]\n')
    before = snapshot(project)
    run = cli("sync", "--dry-run")
    assert run.exit_code == 0, run.stderr
    assert "Would update tiny main" in run.stdout and "No lock written (--dry-run)" in run.stdout
    assert "in sync" not in run.stdout
    assert "would be re-resolved first" in run.stderr
    assert snapshot(project) == before
    assert cli("sync", "--locked").exit_code == 1  # --locked still refuses


def test_revision_not_found_names_the_manifest_entry(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    (project / "modellock.toml").write_text('[models.tiny]\nrepo = "acme/tiny"\nrevision = "nope"\n')
    run = cli("lock")
    assert run.exit_code == 2 and "model `tiny`: revision 'nope' not found in acme/tiny" in run.stderr


def test_a_refused_add_hints_a_scan_of_a_path_that_exists(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/old").commit({"config.json": b"{}", "pytorch_model.bin": REAL_BIN})
    run = cli("add", "acme/old")
    assert run.exit_code == 1
    found = re.search(r"`modellock scan (.+?)` shows the full findings", run.stderr)
    assert found is not None, run.stderr
    *flags, path = shlex.split(found.group(1))
    assert flags == ["--pickle", "deny", "--remote-code", "deny"] and Path(path).is_file()
    scan = cli("scan", *flags, path)
    assert scan.exit_code == 1 and "REFUSED" in scan.stdout


def test_export_counts_in_words(project: Path, hub: FakeHub) -> None:
    added(hub)
    run = cli("export", "-o", "bom.json")
    assert run.exit_code == 0 and "Wrote bom.json (1 model, cyclonedx1.6)" in run.stdout


def test_verbose_says_project_and_store_for_any_command(project: Path, hub: FakeHub) -> None:
    added(hub)
    run = cli("-v", "status")
    assert "debug: project ., store " in run.stderr


def test_metavars_read_as_names(project: Path) -> None:
    text = cli("add", "--help").stdout
    assert "{repo}" not in text and "<str>" not in text
    assert "Usage: modellock add [OPTIONS] REPO" in text and "--name NAME" in text
    assert "<dir|hf-cache>" in text  # a fixed set of choices keeps its list
