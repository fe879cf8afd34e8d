"""`--format json` is a public format (docs/json.md): each command's key set is pinned here, so a
renamed field in `ops/` cannot silently change it. Adding a key means adding it here (and to the doc);
renaming or removing one means `"schema": 2`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import cli
from tests.hub import FakeHub
from tests.registry import LocalRegistry
from tests.test_lock_e2e import make_tiny
from tests.test_scan import BENIGN

HEAD = {"schema", "command", "ok"}
CHANGE = {"name", "kind", "requested", "old_commit", "new_commit", "files", "size", "files_changed", "repaired"}
LOCK_FIELDS = {
    "written", "dry_run", "changes", "downloaded_files", "downloaded_bytes", "signatures", "excluded",
    "edges_added", "bases_added", "warnings",
}  # fmt: skip
FAILURE = HEAD | {"error", "error_type", "hint", "exit_code", "details"}


def run_json(*args: str, code: int = 0) -> dict[str, Any]:
    run = cli(*args, "--format", "json")
    assert run.exit_code == code, (args, run.stderr)
    data: dict[str, Any] = json.loads(run.stdout)
    assert data["schema"] == 1 and data["ok"] is (code == 0)
    return data


@pytest.fixture
def locked(project: Path, hub: FakeHub) -> Path:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    return project


def test_add(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    data = run_json("add", "acme/tiny")
    assert set(data) == HEAD | {"added", "locked", "lock"} | LOCK_FIELDS and data["command"] == "add"
    assert set(data["changes"][0]) == CHANGE


def test_lock(locked: Path) -> None:
    data = run_json("lock")
    assert set(data) == HEAD | {"lock"} | LOCK_FIELDS and data["command"] == "lock"
    assert set(data["changes"][0]) == CHANGE


def test_lock_check(locked: Path) -> None:
    data = run_json("lock", "--check")
    assert set(data) == HEAD | {"lock", "models", "files", "problems", "remote"} and data["command"] == "check"
    (locked / "modellock.toml").write_text('[models.tiny]\nrepo = "acme/tiny"\nrevision = "v2"\n')
    stale = run_json("lock", "--check", code=1)
    assert set(stale["problems"][0]) == {"model", "message"}


def test_sync(locked: Path) -> None:
    data = run_json("sync")
    keys = {"dry_run", "check", "models", "downloaded_files", "downloaded_bytes", "link_mode"}
    assert set(data) == HEAD | keys | {"signatures_verified", "warnings", "relocked"}
    assert set(data["models"][0]) == {"name", "commit", "target", "action", "reason", "files", "size", "dropped"}
    (locked / "modellock.toml").write_text('[models.tiny]\nrepo = "acme/tiny"\ninclude = ["*.json"]\n')
    relocked = run_json("sync")["relocked"]
    assert set(relocked) == LOCK_FIELDS


@pytest.mark.parametrize("command", ["verify", "status"])
def test_verify_and_status(locked: Path, command: str) -> None:
    assert cli("sync").exit_code == 0
    data = run_json(command)
    assert set(data) == HEAD | {"hashed", "files_checked", "bytes_checked", "models"} and data["command"] == command
    model = {"name", "target", "installed", "ok", "missing", "modified", "extra", "store_bad", "signature", "refs"}
    assert set(data["models"][0]) == model


def test_scan(tmp_path: Path) -> None:
    (tmp_path / "ok.safetensors").write_bytes(BENIGN["model.safetensors"])
    data = run_json("scan", str(tmp_path))
    assert set(data) == HEAD | {"refused", "files"} and data["command"] == "scan"
    keys = {"path", "allowed", "reason", "change", "format", "kind", "verdict", "findings"}
    assert set(data["files"][0]) == keys


def test_failures_carry_the_error_and_its_facts(locked: Path) -> None:
    (locked / "modellock.toml").write_text('[models.tiny]\nrepo = "acme/tiny"\nrevision = "v2"\n')
    data = run_json("sync", "--locked", code=1)
    assert set(data) == FAILURE and data["error_type"] == "StaleLock" and data["exit_code"] == 1
    assert data["details"]["problems"][0]["model"] == "tiny"
    usage = run_json("sync", "--nope", code=2)
    assert set(usage) == FAILURE and usage["error_type"] == "UsageError" and usage["exit_code"] == 2
    tampered = locked / "modellock.lock"
    tampered.write_text(tampered.read_text() + "\x00")
    broken = run_json("lock", "--check", code=2)
    assert set(broken) == FAILURE and broken["command"] == "check"  # the same name as its success
    config = run_json("-p", str(locked / "nowhere"), "lock", code=2)
    assert set(config) == FAILURE and set(config["details"]) == {"file", "line"}


def test_cache(locked: Path) -> None:
    assert set(run_json("cache", "verify")) == HEAD | {"checked", "corrupt"}
    assert set(run_json("cache", "prune")) == HEAD | {"removed", "freed_bytes", "kept", "locks"}


def test_tree_and_why(locked: Path) -> None:
    tree = run_json("tree")
    assert set(tree) == HEAD | {"invert", "depth", "roots"}
    assert set(tree["roots"][0]) == {"name", "repo", "commit", "relation", "stale", "repeated", "children"}
    assert set(run_json("why", "tiny")) == HEAD | {"model", "invert", "depth", "roots"}


def test_list_show(locked: Path) -> None:
    assert set(run_json("list")) == HEAD | {"lock", "models"}
    assert set(run_json("show", "tiny")) == HEAD | {"lock", "sealed", "size", "model"}


def test_push(locked: Path, registry: LocalRegistry) -> None:
    data = run_json("push", f"{registry.url}/fleet")
    assert set(data) == HEAD | {"registry", "models"}
    keys = {"name", "repository", "tags", "digest", "uploaded", "uploaded_bytes", "mounted", "skipped"}
    assert set(data["models"][0]) == keys


def test_an_integrity_failure_carries_the_digests(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    hub.faults.corrupt.add("model.safetensors")
    data = run_json("add", "acme/tiny", code=1)
    assert data["error_type"] == "IntegrityError"
    details = data["details"]
    assert details["model"] == "acme/tiny" and details["path"] == "model.safetensors"
    assert details["expected"].startswith("sha256:") and details["actual"].startswith("sha256:")
    assert details["expected"] != details["actual"]
