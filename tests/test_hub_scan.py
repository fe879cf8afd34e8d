"""The Hub's own scans (`securityFileStatus`) at `lock`: recorded per file, flags refuse, nothing reads as safe."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from modellock.errors import ConfigError
from modellock.project.hubscan import HubScan, parse
from modellock.project.lockfast import parse_canonical
from modellock.project.lockfile import HEADER, LockedFile, LockedModel, Lockfile, dumps
from modellock.project.lockread import loads, loads_checked, read_lock
from modellock.sources.hubscan import from_hub
from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.samples import weights

CLEAN = "safe av=safe protectai=safe jfrog=unscanned virustotal=safe"
FILES = {"config.json": b'{"model_type": "bert"}\n', "model.safetensors": weights(b"\x01" * 64)}


def _unsafe(scanner: str = "protectAiScan") -> dict[str, Any]:
    return {"status": "unsafe", "avScan": {"virusFound": False, "virusNames": None}, scanner: {"status": "unsafe"}}


def _manifest(project: Path, extra: str = "") -> None:
    (project / "modellock.toml").write_text(f'[models.m]\nrepo = "acme/m"\n{extra}')


def _hub_scans(project: Path) -> dict[str, str]:
    lock = read_lock(project / "modellock.lock")
    assert lock is not None
    return {f.path: f.hub_scan for f in lock.get("m").files}  # type: ignore[union-attr]


def test_lock_records_the_hub_scan_per_file_under_the_seal(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/m").commit(FILES)
    _manifest(project)
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    assert _hub_scans(project) == {"config.json": CLEAN, "model.safetensors": CLEAN}
    text = (project / "modellock.lock").read_text()
    assert f'hub-scan = "{CLEAN}" }},' in text
    assert parse_canonical(text, HEADER) is not None  # the fast reader reads the field
    assert cli("lock", "--check").exit_code == 0
    # The field is sealed: an edit that makes a file look safer is caught.
    lock_path = project / "modellock.lock"
    lock_path.write_text(text.replace("jfrog=unscanned", "jfrog=safe", 1))
    run = cli("lock", "--check")
    assert run.exit_code == 1 and "m: its fields do not match its seal" in run.stderr


def test_a_flagged_file_refuses_the_lock_before_any_download(project: Path, hub: FakeHub) -> None:
    repo = hub.repo("acme/m")
    repo.commit(FILES)
    repo.scans["model.safetensors"] = _unsafe()
    _manifest(project)
    before = snapshot(project)
    hub.requests.clear()
    run = cli("lock")
    assert run.exit_code == 1, run.stderr
    assert "the Hub's own scan flags 1 file(s) of acme/m@" in run.stderr
    assert "model.safetensors: unsafe av=safe protectai=unsafe" in run.stderr
    assert 'hub-scan-allow = ["model.safetensors"]' in run.stderr
    assert snapshot(project) == before
    assert not any("/resolve/" in r for r in hub.requests)


@pytest.mark.parametrize("status", ["suspicious", "unsafe"])
def test_hub_scan_allow_admits_a_flagged_file_and_the_lock_still_says_so(
    project: Path, hub: FakeHub, status: str
) -> None:
    repo = hub.repo("acme/m")
    repo.commit(FILES)
    repo.scans["model.safetensors"] = {"status": status, "jFrogScan": {"status": status}}
    _manifest(project, 'hub-scan-allow = ["model.safetensors"]\n')
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    assert _hub_scans(project)["model.safetensors"] == f"{status} jfrog={status}"


@pytest.mark.parametrize(
    ("raw", "recorded"),
    [
        ({"status": "queued"}, "queued"),
        ({"status": "unscanned", "avScan": {"status": "queued"}}, "unscanned av=queued"),
        ("safe", "unknown"),
        ([1, 2], "unknown"),
        ({"status": 42}, "unknown"),
        ({"status": "definitely-safe"}, "unknown"),
        ({"status": "unknown"}, "unknown"),
        ({"status": "safe", "avScan": "clean", "pickleImportScan": {"highestSafetyLevel": 3}}, "safe av=unknown "
         "pickle-import=unknown"),
        ({"status": "safe", "virusTotalScan": {"status": ["safe"]}}, "safe virustotal=unknown"),
        ({"avScan": {"virusFound": False}}, "unknown av=safe"),
    ],
)  # fmt: skip
def test_queued_unscanned_and_malformed_scans_are_recorded_never_as_safe(
    project: Path, hub: FakeHub, raw: Any, recorded: str
) -> None:
    repo = hub.repo("acme/m")
    repo.commit(FILES)
    repo.scans["model.safetensors"] = raw
    _manifest(project)
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    assert _hub_scans(project)["model.safetensors"] == recorded
    assert cli("lock", "--check").exit_code == 0


@pytest.mark.parametrize(
    "raw",
    [
        {"status": "safe", "avScan": {"status": "safe", "virusFound": True, "virusNames": ["Eicar"]}},
        {"status": "safe", "pickleImportScan": {"highestSafetyLevel": "dangerous"}},
        {"status": "caution", "pickleImportScan": {"highestSafetyLevel": "suspicious"}},
    ],
)
def test_a_scanner_that_flags_refuses_whatever_the_overall_status_says(
    project: Path, hub: FakeHub, raw: dict[str, Any]
) -> None:
    repo = hub.repo("acme/m")
    repo.commit(FILES)
    repo.scans["model.safetensors"] = raw
    _manifest(project)
    run = cli("lock")
    assert run.exit_code == 1 and "the Hub's own scan flags" in run.stderr


def test_no_scan_from_the_hub_records_nothing(project: Path, hub: FakeHub) -> None:
    repo = hub.repo("acme/m")
    repo.commit(FILES)
    repo.scans["config.json"] = None
    _manifest(project)
    assert cli("lock").exit_code == 0
    assert _hub_scans(project) == {"config.json": "", "model.safetensors": CLEAN}
    assert 'path = "config.json", size = 23, blake3' in (project / "modellock.lock").read_text()


def test_a_malformed_tree_entry_around_the_scan_is_a_clean_error(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/m").commit(FILES)
    hub.faults.tree_json = lambda page: [{**e, "lastCommit": "yesterday"} for e in page] + ["junk"]
    _manifest(project)
    run = cli("lock")
    assert run.exit_code == 2 and "file listing for acme/m@" in run.stderr and "is malformed" in run.stderr


def test_from_hub_and_parse_agree() -> None:
    for raw in (_unsafe("jFrogScan"), {"status": "queued"}, {"status": "safe", "pickleImportScan": {"status": "x"}}):
        scan = from_hub(raw)
        assert scan is not None and parse(scan.render()) == scan
    assert from_hub(None) is None
    assert HubScan("queued").refused is False and HubScan("safe", (("jfrog", "suspicious"),)).refused


@pytest.mark.parametrize(
    "value",
    ["", "safe ", "safe av=", "safe av=safe av=safe", "safe jfrog=safe av=safe", "great", "safe virus=safe", "SAFE"],
)
def test_parse_refuses_what_modellock_does_not_write(value: str) -> None:
    assert value == "" or parse(value) is None


def _locked(hub_scan: str) -> str:
    h = "ab" * 32
    model = LockedModel(
        "m", "huggingface", "acme/m", "model", "models/m", "main", "c" * 40, "blake3:" + "0" * 64,
        (LockedFile("model.safetensors", 2, h, h, "safetensors", hub_scan=hub_scan),),
    )  # fmt: skip
    return dumps(Lockfile((model,)))


@pytest.mark.parametrize("bad", ["great", "safe av=maybe", "safe av=safe av=safe"])
def test_a_hub_scan_the_lock_cannot_hold_is_refused_on_read_with_its_line(bad: str) -> None:
    text = _locked(CLEAN).replace(CLEAN, bad)
    with pytest.raises(ConfigError, match=re.escape("`hub-scan`")) as caught:
        loads(text)
    assert caught.value.line == next(i for i, line in enumerate(text.splitlines(), 1) if "hub-scan" in line)
    number = text.replace(f'hub-scan = "{bad}"', "hub-scan = 3")
    with pytest.raises(ConfigError, match="is not a Hub scan"):
        loads(number)


def test_locks_without_hub_scans_stay_valid() -> None:
    text = _locked("")
    assert "hub-scan" not in text
    read = loads_checked(text)
    assert read.canonical and not read.unsealed
    read = loads_checked(_locked(CLEAN))
    assert read.canonical and not read.unsealed and read.lock.models[0].files[0].hub_scan == CLEAN


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"model.bin"', "must be a list of file paths"),
        ("[3]", "must be a list of non-empty strings"),
        ('["../x.bin"]', "is not a repository file path"),
    ],
)
def test_hub_scan_allow_is_validated_with_its_line(project: Path, value: str, message: str) -> None:
    _manifest(project, f"hub-scan-allow = {value}\n")
    run = cli("lock", "--check")
    assert run.exit_code == 2
    assert message in run.stderr and "modellock.toml:3" in run.stderr


def test_bom_carries_the_hub_scan_as_evidence(project: Path, hub: FakeHub) -> None:
    repo = hub.repo("acme/m")
    repo.commit(FILES)
    repo.scans["model.safetensors"] = {"status": "queued"}
    _manifest(project)
    assert cli("lock").exit_code == 0
    doc = json.loads(cli("export", "--format", "cyclonedx1.7").stdout)
    files = {c["name"]: {p["name"]: p["value"] for p in c["properties"]} for c in doc["components"][0]["components"]}
    assert files["model.safetensors"]["modellock:hub-scan.status"] == "queued"
    assert "modellock:hub-scan.av" not in files["model.safetensors"]
    assert files["config.json"]["modellock:hub-scan.jfrog"] == "unscanned"
    assert files["config.json"]["modellock:hub-scan.status"] == "safe"
