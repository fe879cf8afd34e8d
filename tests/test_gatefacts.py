"""The lock's record of what its files are (`format`, pickle `scan`/`scanner`) is proved against their bytes at sync."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from modellock.gate.verdict import SCANNER_VERSION, Finding, ScanResult
from modellock.ops.gatefacts import labelled, misrecorded
from modellock.ops.project import write_lock
from modellock.project.lockfile import LockedFile, Lockfile
from modellock.project.lockread import read_lock
from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.test_lock_e2e import make_tiny

SAFETENSORS = ScanResult("safetensors", "data")
PICKLE = ScanResult("torch-zip", "pickle")
BAD_PICKLE = ScanResult("torch-zip", "pickle", (Finding("suspicious", "odd import"),))
FILE = LockedFile("w", 1, "0" * 64, "1" * 64)


@pytest.mark.parametrize(
    ("recorded", "scan", "needle"),
    [
        (labelled(FILE, SAFETENSORS), SAFETENSORS, None),
        (labelled(FILE, PICKLE), PICKLE, None),
        (replace(FILE, format="gguf"), SAFETENSORS, "records format `gguf`, its bytes are `safetensors`"),
        (FILE, SAFETENSORS, "records format `none`"),
        (replace(labelled(FILE, SAFETENSORS), scan="clean"), SAFETENSORS, "not a pickle"),
        (replace(labelled(FILE, PICKLE), scan="", scanner=""), PICKLE, "records no pickle scan"),
        (labelled(FILE, PICKLE), BAD_PICKLE, "records the pickle scan `clean`, its bytes scan `suspicious`"),
        # an older scanner's verdict is not compared: its rules were not these
        (replace(labelled(FILE, PICKLE), scanner="modellock-scan 1"), BAD_PICKLE, None),
    ],
)
def test_misrecorded(recorded: LockedFile, scan: ScanResult, needle: str | None) -> None:
    assert SCANNER_VERSION != "modellock-scan 1"
    why = misrecorded(recorded, scan)
    if needle is None:
        assert why is None
    else:
        assert why is not None and needle in why and why.startswith("w: ")


def test_sync_refuses_a_resealed_format(project: Path, hub: FakeHub) -> None:
    """The issue's case: a resealed `format` passes `lock --check` (and `--remote`, which reads no weights)."""
    make_tiny(hub)
    (project / "modellock.toml").write_text('[models.tiny]\nrepo = "acme/tiny"\n')
    assert cli("lock").exit_code == 0
    lock_path = project / "modellock.lock"
    lock = read_lock(lock_path)
    assert lock is not None
    m = lock.models[0]
    files = tuple(replace(f, format="gguf") if f.path == "model.safetensors" else f for f in m.files)
    write_lock(lock_path, Lockfile((replace(m, files=files, digest=""),)))
    assert cli("lock", "--check").exit_code == 0
    assert cli("lock", "--check", "--remote").exit_code == 0  # documented: only bytes prove a format
    before = snapshot(project)
    run = cli("sync")
    assert run.exit_code == 1, run.stdout
    assert "refusing tiny: the lock's record of what its files are does not match their bytes" in run.stderr
    assert "model.safetensors: the lock records format `gguf`, its bytes are `safetensors`" in run.stderr
    assert "hint:" in run.stderr and "--upgrade-model tiny" in run.stderr
    assert snapshot(project) == before and not (project / "models").exists()
    assert cli("lock", "--upgrade-model", "tiny").exit_code == 0  # records the gate's findings again
    assert cli("sync").exit_code == 0
