"""`modellock audit`: the Hub's scans of the locked files now, against what the lock recorded."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from modellock.ops.project import write_lock
from modellock.project.lockread import read_lock
from tests.helpers import cli
from tests.hub import FakeHub
from tests.test_hub_scan import CLEAN, FILES


@pytest.fixture
def locked(project: Path, hub: FakeHub) -> Path:
    hub.repo("acme/m").commit(FILES)
    hub.repo("acme/other").commit({"config.json": b"{}"})
    (project / "modellock.toml").write_text('[models.m]\nrepo = "acme/m"\n\n[models.other]\nrepo = "acme/other"\n')
    assert cli("lock").exit_code == 0
    return project


def test_nothing_changed(locked: Path, hub: FakeHub) -> None:
    hub.requests.clear()
    run = cli("audit")
    assert run.exit_code == 0, run.stderr
    assert "No Hub scan changed since locking (3 files in 2 models)." in run.stdout
    assert hub.requests and not any("/resolve/" in r for r in hub.requests)  # listings only, no model bytes


def test_a_file_flipped_to_unsafe_is_flagged(locked: Path, hub: FakeHub) -> None:
    hub.repos[("model", "acme/m")].scans["model.safetensors"] = {
        "status": "unsafe",
        "avScan": {"virusFound": False, "virusNames": None},
        "protectAiScan": {"status": "unsafe", "message": "arbitrary code"},
        "jFrogScan": {"status": "unscanned"},
        "virusTotalScan": {"status": "safe"},
    }
    run = cli("audit")
    assert run.exit_code == 1, run.stdout
    commit = hub.repos[("model", "acme/m")].branches["main"][:7]
    assert (
        f"NEW UNSAFE m (acme/m@{commit}) model.safetensors: status safe -> unsafe, protectai safe -> unsafe"
        in run.stdout
    )
    assert "1 changed, 1 newly unsafe (3 files in 2 models)." in run.stdout
    data = json.loads(cli("audit", "--format", "json").stdout)
    [change] = data["changed"]
    assert data["new_unsafe"] == 1 and change["new_unsafe"] is True
    assert change["locked"]["status"] == "safe" and change["now"]["protectai"] == "unsafe"
    assert {"scan": "status", "was": "safe", "now": "unsafe"} in change["changes"]
    sarif = cli("audit", "--format", "sarif")
    assert sarif.exit_code == 1
    [result] = json.loads(sarif.stdout)["runs"][0]["results"]
    assert result["ruleId"] == "HUB001" and result["level"] == "error"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "model.safetensors"
    # Only the other model: nothing changed there.
    assert cli("audit", "--model", "other").exit_code == 0


def test_a_change_that_is_not_unsafe_is_reported_without_failing(locked: Path, hub: FakeHub) -> None:
    hub.repos[("model", "acme/m")].scans["config.json"] = {"status": "suspicious"}
    hub.repos[("model", "acme/other")].scans["config.json"] = None
    run = cli("audit", "--format", "sarif")
    assert run.exit_code == 0, run.stdout
    results = json.loads(run.stdout)["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["HUB002", "HUB002"]
    text = cli("audit").stdout
    assert "m (acme/m@" in text and "config.json: status safe -> suspicious, av safe -> none" in text
    assert "other (acme/other@" in text and "status safe -> none" in text


def test_an_old_lock_without_scans_sees_every_scan_as_new(locked: Path, hub: FakeHub) -> None:
    """A lock made before modellock recorded scans (re-sealed as such) has nothing to compare with."""
    lock = read_lock(locked / "modellock.lock")
    assert lock is not None
    stripped = replace(
        lock, models=tuple(replace(m, files=tuple(replace(f, hub_scan="") for f in m.files)) for m in lock.models)
    )
    write_lock(locked / "modellock.lock", stripped)
    assert "hub-scan" not in (locked / "modellock.lock").read_text()
    assert cli("audit").exit_code == 0  # all safe: news, not a failure
    hub.repos[("model", "acme/m")].scans["model.safetensors"] = {"status": "unsafe"}
    run = cli("audit", "--format", "json")
    assert run.exit_code == 1
    changed = {c["path"]: c for c in json.loads(run.stdout)["changed"] if c["model"] == "m"}
    assert changed["model.safetensors"]["locked"] is None and changed["model.safetensors"]["new_unsafe"]
    assert changed["config.json"]["now"]["status"] == "safe" and not changed["config.json"]["new_unsafe"]


def test_refuses_an_edited_lock_and_unknown_models(locked: Path) -> None:
    assert cli("audit", "--model", "nope").exit_code == 2
    lock = locked / "modellock.lock"
    lock.write_text(lock.read_text().replace(CLEAN, "safe", 1))
    run = cli("audit")
    assert run.exit_code == 1 and "changed outside modellock" in run.stderr
    lock.unlink()
    run = cli("audit")
    assert run.exit_code == 2 and "no lock found" in run.stderr


@pytest.mark.parametrize(
    ("locked", "now", "allowed", "fails", "new_unsafe"),
    [
        ("safe", "safe", False, False, False),
        ("safe", "unsafe", False, True, True),
        ("safe", "unsafe", True, True, True),  # newly unsafe: news even where flags were allowed
        ("unsafe", "unsafe", False, True, False),  # a record that copies the flag hides nothing
        ("unsafe", "unsafe", True, False, False),  # allowed at lock, unchanged
        ("safe av=safe protectai=unsafe", "safe av=safe protectai=unsafe", False, True, False),  # a scanner's
        ("safe", "suspicious", False, False, False),  # suspicious is reported, not failed
        ("", "unsafe", False, True, True),  # no record: news
        ("safe", None, False, False, False),
    ],
)
def test_what_fails_an_audit(locked: str, now: str | None, allowed: bool, fails: bool, new_unsafe: bool) -> None:
    from modellock.ops.audit import ScanChange
    from modellock.project.hubscan import changes, parse

    was, is_ = parse(locked) if locked else None, parse(now) if now else None
    change = ScanChange("m", "acme/m", "0" * 40, "w", was, is_, tuple(changes(was, is_)), allowed)
    assert (change.fails, change.new_unsafe) == (fails, new_unsafe)
