"""`list`, `show` and `diff`: what a lock holds, in text and JSON, without reading TOML."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from modellock.project.lockread import read_lock
from tests.helpers import cli
from tests.hub import FakeHub
from tests.test_gate_e2e import REAL_BIN
from tests.test_lock_e2e import WEIGHTS, make_tiny


def _git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "commit.gpgsign=false", *args],
        cwd=project, check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture
def two(project: Path, hub: FakeHub) -> Path:
    make_tiny(hub)
    hub.repo("acme/old").commit({"pytorch_model.bin": REAL_BIN})
    (project / "modellock.toml").write_text(
        '[models.tiny]\nrepo = "acme/tiny"\n\n[models.old]\nrepo = "acme/old"\npickle = "scan"\n'
    )
    assert cli("lock").exit_code == 0
    return project


def test_list_text_and_json(two: Path) -> None:
    run = cli("list")
    assert run.exit_code == 0, run.stderr
    lock = read_lock(two / "modellock.lock")
    assert lock is not None
    tiny = lock.get("tiny")
    assert tiny is not None
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["NAME", "REPO", "REF", "COMMIT", "FILES", "SIZE", "LAYOUT", "SIGNED", "POLICY"]
    assert lines[1].split()[:5] == ["old", "acme/old", "main", lock.models[0].commit[:7], "1"]
    assert lines[1].endswith("pickle=scan, remote-code=deny")
    assert lines[2].split()[:5] == ["tiny", "acme/tiny", "main", tiny.commit[:7], "3"]
    data = json.loads(cli("list", "--format", "json").stdout)
    assert [m["name"] for m in data["models"]] == ["old", "tiny"]
    entry = data["models"][1]
    assert entry["commit"] == tiny.commit and entry["size"] == tiny.size and entry["signed"] is False
    assert entry["sealed"] is True and entry["policy"] == "default"


def test_show_text_json_and_unknown(two: Path) -> None:
    lock = read_lock(two / "modellock.lock")
    old = lock.get("old")  # type: ignore[union-attr]
    assert old is not None
    run = cli("show", "old")
    assert run.exit_code == 0, run.stderr
    assert f"  commit      {old.commit}" in run.stdout
    assert "pytorch_model.bin" in run.stdout and "torch-zip clean (modellock-scan" in run.stdout
    assert f"sha256 {old.files[0].sha256}" in run.stdout and f"blake3 {old.files[0].blake3}" in run.stdout
    data = json.loads(cli("show", "old", "--format", "json").stdout)
    assert data["model"]["commit"] == old.commit and data["model"]["files"][0]["scan"] == "clean"
    assert data["model"]["policy"]["pickle"] == "scan" and data["sealed"] is True
    run = cli("show", "nope")
    assert run.exit_code == 2 and "no model `nope` in the lock" in run.stderr and "old, tiny" in run.stderr


def test_show_marks_an_edited_lock(two: Path) -> None:
    lock = two / "modellock.lock"
    lock.write_text(lock.read_text().replace('layout = "dir"', 'layout = "hf-cache"', 1))
    assert "(unsealed!)" in cli("list").stdout
    assert "(does not match: edited?)" in cli("show", "old").stdout


def test_diff_two_files(two: Path, hub: FakeHub, tmp_path: Path) -> None:
    before = tmp_path / "before.lock"
    shutil.copy(two / "modellock.lock", before)
    old_commit = read_lock(before).get("tiny").commit  # type: ignore[union-attr]
    new_commit = hub.repos[("model", "acme/tiny")].commit(
        {"config.json": b'{"model_type": "bert", "v": 2}\n', "new.json": b"{}", "model.safetensors": WEIGHTS}
    )
    hub.repo("acme/more").commit({"a.json": b"[]"})
    (two / "modellock.toml").write_text('[models.tiny]\nrepo = "acme/tiny"\n\n[models.more]\nrepo = "acme/more"\n')
    assert cli("lock", "--upgrade").exit_code == 0
    run = cli("diff", str(before), "modellock.lock")
    assert run.exit_code == 0, run.stderr
    assert run.stdout.splitlines() == [
        f"Added more acme/more main {read_lock(two / 'modellock.lock').get('more').commit[:7]}",  # type: ignore[union-attr]
        "  1 file, 2 B",
        f"Removed old acme/old main {read_lock(before).get('old').commit[:7]}",  # type: ignore[union-attr]
        f"  1 file, {len(REAL_BIN) / 1000:.1f} kB",
        f"Updated tiny acme/tiny main {old_commit[:7]} -> {new_commit[:7]}",
        "  ~ config.json (23 B -> 31 B)",
        "  + new.json (2 B)",
        "  - sub/dir/extra.json (2 B)",
    ]
    assert cli("diff", str(before), "modellock.lock", "--exit-code").exit_code == 1
    data = json.loads(cli("diff", str(before), "modellock.lock", "--format", "json").stdout)
    assert data["changed"] is True
    tiny = next(m for m in data["models"] if m["name"] == "tiny")
    assert tiny["old_commit"] == old_commit and tiny["new_commit"] == new_commit
    assert [(f["path"], f["change"]) for f in tiny["files"]] == [
        ("config.json", "changed"), ("new.json", "added"), ("sub/dir/extra.json", "removed"),
    ]  # fmt: skip
    same = cli("diff", "modellock.lock", "modellock.lock", "--exit-code")
    assert same.exit_code == 0 and same.stdout.startswith("No changes between")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_diff_against_git_revisions(two: Path, hub: FakeHub) -> None:
    _git(two, "init", "-q")
    _git(two, "add", "modellock.lock", "modellock.toml")
    _git(two, "commit", "-q", "-m", "lock")
    assert cli("diff").stdout.startswith("No changes between HEAD:modellock.lock")
    hub.repos[("model", "acme/tiny")].commit({"config.json": b"{}\n"}, keep=True)
    assert cli("lock", "--upgrade-model", "tiny").exit_code == 0
    run = cli("diff", "--exit-code")
    assert run.exit_code == 1
    assert run.stdout.splitlines()[1] == "  ~ config.json (23 B -> 3 B)"
    _git(two, "commit", "-q", "-am", "upgrade")
    assert cli("diff", "HEAD~1", "HEAD").stdout.startswith("Updated tiny acme/tiny main")
    run = cli("diff", "no-such-rev")
    assert run.exit_code == 2 and "neither a lock file nor a git revision" in run.stderr


def test_diff_reports_signer_and_verdict_changes(two: Path, tmp_path: Path) -> None:
    import dataclasses

    from modellock.ops.project import write_lock
    from modellock.project.lockfile import LockedSignature, Lockfile

    before = tmp_path / "before.lock"
    shutil.copy(two / "modellock.lock", before)
    lock = read_lock(two / "modellock.lock")
    assert lock is not None
    sig = LockedSignature("model.sig", 10, "a" * 64, "b" * 64, "key", "sha256:abc", key="sha256:abc", covers=1)
    old = lock.get("old")
    assert old is not None
    relabelled = dataclasses.replace(old.files[0], scan="suspicious")
    models = [m for m in lock.models if m.name != "old"]
    models.append(dataclasses.replace(old, signature=sig, files=(relabelled,)))
    write_lock(two / "modellock.lock", Lockfile(tuple(models)))
    lines = cli("diff", str(before), "modellock.lock").stdout.splitlines()
    assert lines[1:] == [
        "  signer: unsigned -> sha256:abc",
        "  ~ pytorch_model.bin (same bytes, verdict torch-zip/clean -> torch-zip/suspicious)",
    ]
    # The Hub's own scan, recorded at lock, changed on the same bytes.
    shutil.copy(two / "modellock.lock", before)
    flagged = dataclasses.replace(relabelled, hub_scan="unsafe pickle-import=unsafe")
    models[-1] = dataclasses.replace(models[-1], files=(flagged,))
    write_lock(two / "modellock.lock", Lockfile(tuple(models)))
    lines = cli("diff", str(before), "modellock.lock").stdout.splitlines()
    hub_before = relabelled.hub_scan or "none"
    assert lines[1:] == [f"  ~ pytorch_model.bin (same bytes, Hub scan {hub_before} -> unsafe pickle-import=unsafe)"]
    changed = json.loads(cli("diff", str(before), "modellock.lock", "--format", "json").stdout)
    [file] = changed["models"][0]["files"]
    assert file["change"] == "relabelled" and file["new_hub_scan"] == "unsafe pickle-import=unsafe"
