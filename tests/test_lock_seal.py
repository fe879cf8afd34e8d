"""The lock is hostile input: every field is sealed, bound to the manifest, and validated before use."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modellock.project.lockread import read_lock
from tests.helpers import cli, reseal, snapshot
from tests.hub import FakeHub
from tests.test_lock_e2e import make_tiny

OTHER_COMMIT = "f" * 40
OTHER_DIGEST = "e" * 64


def _locked(project: Path, hub: FakeHub, manifest_extra: str = "") -> Path:
    make_tiny(hub)
    (project / "modellock.toml").write_text(f'[models.tiny]\nrepo = "acme/tiny"\n{manifest_extra}')
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    return project / "modellock.lock"


def _edit(text: str, pattern: str, replacement: str) -> str:
    edited, count = re.subn(pattern, replacement, text, count=1)
    assert count == 1, pattern
    return edited


# Each edit keeps the lock parseable and canonical; without the seal, every one was accepted.
EDITS = {
    "commit": (r'commit = "[0-9a-f]{40}"', f'commit = "{OTHER_COMMIT}"'),
    "requested": (r'requested = "main"', 'requested = "v2"'),
    "repo": (r'repo = "acme/tiny"', 'repo = "evil/tiny"'),
    "repo-type": (r'repo-type = "model"', 'repo-type = "dataset"'),
    "path": (r'path = "models/tiny"', 'path = "elsewhere"'),
    "layout": (r'layout = "dir"', 'layout = "hf-cache"'),
    "sha256": (r'sha256 = "[0-9a-f]{64}"', f'sha256 = "{OTHER_DIGEST}"'),
    "format": (r'format = "[a-z-]+"', 'format = "pickle"'),
    "policy": (r"(digest = .*\n)", r'\1policy = { pickle = "allow", remote-code = "allow", allow-files = [] }\n'),
}


@pytest.mark.parametrize("field", sorted(EDITS))
def test_any_unsealed_edit_fails_check_and_sync(project: Path, hub: FakeHub, field: str) -> None:
    lock = _locked(project, hub)
    lock.write_text(_edit(lock.read_text(), *EDITS[field]))
    before = snapshot(project)
    run = cli("lock", "--check")
    assert run.exit_code == 1, run.stdout
    assert "tiny" in run.stderr and "seal" in run.stderr
    for args in (("sync", "--locked"), ("sync", "--frozen"), ("verify",), ("status",)):
        refused = cli(*args)
        assert refused.exit_code == 1, (args, refused.stdout)
        assert "seal" in refused.stderr and "hint:" in refused.stderr
    assert snapshot(project) == before


@pytest.mark.parametrize(
    ("field", "named"),
    [
        ("requested", "`requested` is 'v2' in the lock but 'main' in the manifest"),
        ("repo", "`repo` is 'evil/tiny' in the lock but 'acme/tiny' in the manifest"),
        ("repo-type", "`repo-type` is 'dataset'"),
        ("path", "`path` is 'elsewhere'"),
        ("layout", "`layout` is 'hf-cache'"),
        ("policy", "`policy` is {'pickle': 'allow'"),
    ],
)
def test_resealed_edit_is_named_against_the_manifest(project: Path, hub: FakeHub, field: str, named: str) -> None:
    lock = _locked(project, hub)
    lock.write_text(_edit(lock.read_text(), *EDITS[field]))
    reseal(lock)
    before = snapshot(project)
    run = cli("lock", "--check")
    assert run.exit_code == 1
    assert named in run.stderr
    assert cli("sync", "--locked").exit_code == 1
    assert snapshot(project) == before


def test_signer_pin_and_required_signature_win_over_the_lock(project: Path, hub: FakeHub) -> None:
    lock = _locked(project, hub)
    text = lock.read_text()
    record = (
        'signature = { path = "model.sig", size = 1, blake3 = "' + "a" * 64 + '", sha256 = "' + "b" * 64 + '", '
        'mode = "sigstore", identity = "evil@example.com", issuer = "https://evil.example" }\n'
    )
    (project / "modellock.toml").write_text(
        '[policy]\nrequire-signatures = true\n[models.tiny]\nrepo = "acme/tiny"\n'
        '[models.tiny.signature]\nidentity = "good@example.com"\nissuer = "https://good.example"\n'
    )
    # The fingerprint follows the manifest, as a lock written for it would.
    from modellock.project.manifest import load_manifest

    spec = load_manifest(project / "modellock.toml").models["tiny"]
    text = _edit(text, r'fingerprint = "[^"]+"', f'fingerprint = "{spec.fingerprint()}"')
    lock.write_text(text)
    reseal(lock)
    run = cli("lock", "--check")
    assert run.exit_code == 1
    assert "the manifest requires a signature and the lock records none" in run.stderr
    lock.write_text(_edit(text, r"(files = \[)", record.replace("\\", "") + r"\1"))
    reseal(lock)
    run = cli("lock", "--check")
    assert run.exit_code == 1
    assert "the lock records signer evil@example.com (https://evil.example), the manifest pins good@example.com" in (
        run.stderr
    )


def test_lock_repairs_an_unsealed_entry_from_the_hub(project: Path, hub: FakeHub) -> None:
    lock = _locked(project, hub)
    good = lock.read_bytes()
    commit = read_lock(lock).get("tiny").commit  # type: ignore[union-attr]
    lock.write_text(_edit(lock.read_text(), *EDITS["sha256"]))
    hub.requests.clear()
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    assert "re-resolved" in run.stdout
    assert lock.read_bytes() == good  # the edited digest is gone; bytes came from the store
    assert not [p for _, p in hub.requests if "/resolve/" in p]
    assert cli("lock", "--check").exit_code == 0
    # An edited commit is not sticky: the entry is resolved from the requested branch again.
    lock.write_text(_edit(lock.read_text(), *EDITS["commit"]))
    assert cli("lock").exit_code == 0
    assert read_lock(lock).get("tiny").commit == commit  # type: ignore[union-attr]


def test_version_1_lock_is_unsealed_and_relocked(project: Path, hub: FakeHub) -> None:
    lock = _locked(project, hub)
    good = lock.read_text()
    v1 = re.sub(r'seal = "[^"]+"\n', "", good).replace("version = 2", "version = 1")
    lock.write_text(v1)
    run = cli("lock", "--check")
    assert run.exit_code == 1 and "has no seal" in run.stderr
    assert cli("lock").exit_code == 0
    assert lock.read_text() == good


@pytest.mark.parametrize(
    ("pattern", "replacement", "message"),
    [
        (r'requested = "main"', 'requested = "../../../../home/u/.bashrc"', "`requested`"),
        (r'repo-type = "model"', 'repo-type = "../../x"', "`repo-type`"),
        (r'repo = "acme/tiny"', 'repo = "../../x"', "`repo`"),
        (r'source = "huggingface"', 'source = "file"', "`source`"),
        (r'name = "tiny"', 'name = "../x"', "`name`"),
        (r'path = "models/hf-cache"', 'path = "models/\\\\u0007x"', "`path`"),
    ],
)
def test_lock_fields_that_become_paths_are_validated(
    project: Path, hub: FakeHub, tmp_path: Path, pattern: str, replacement: str, message: str
) -> None:
    lock = _locked(project, hub, 'layout = "hf-cache"\n')
    lock.write_text(_edit(lock.read_text(), pattern, replacement))
    before = snapshot(tmp_path)
    for args in (("lock", "--check"), ("sync", "--frozen")):
        run = cli(*args)
        assert run.exit_code == 2, (args, run.stdout)
        assert f"{message} " in run.stderr and "is refused" in run.stderr and "modellock.lock:" in run.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("path", [".", "..", "~", "/", "models"])
def test_frozen_lock_cannot_install_over_the_project_or_another_model(project: Path, hub: FakeHub, path: str) -> None:
    make_tiny(hub, "acme/other")
    lock = _locked(project, hub, "")
    (project / "modellock.toml").write_text(
        '[models.tiny]\nrepo = "acme/tiny"\n[models.other]\nrepo = "acme/other"\npath = "models/tiny/inner"\n'
        if path == "models"
        else '[models.tiny]\nrepo = "acme/tiny"\n'
    )
    if path == "models":
        # The manifest refuses nesting itself; a lock that nests is refused at sync too.
        run = cli("lock")
        assert run.exit_code == 2 and "inside the path of model `tiny`" in run.stderr
        return
    lock.write_text(_edit(lock.read_text(), r'path = "models/tiny"', f'path = "{path}"'))
    reseal(lock)
    before = snapshot(project)
    run = cli("sync", "--frozen", "--force")
    assert run.exit_code == 1
    assert "cannot be installed" in run.stderr
    assert snapshot(project) == before


def test_a_sealed_lock_relabelled_as_version_1_is_refused(project: Path, hub: FakeHub) -> None:
    lock = _locked(project, hub)
    lock.write_text(lock.read_text().replace("version = 2", "version = 1"))
    run = cli("lock", "--check")
    assert run.exit_code == 1 and "has no seal" in run.stderr


def test_a_deleted_signature_record_is_refused_when_the_manifest_configures_one(project: Path, hub: FakeHub) -> None:
    lock = _locked(project, hub)
    (project / "modellock.toml").write_text('[models.tiny]\nrepo = "acme/tiny"\nsignature = { public-key = "k.pem" }\n')
    from modellock.project.manifest import load_manifest

    spec = load_manifest(project / "modellock.toml").models["tiny"]
    lock.write_text(_edit(lock.read_text(), r'fingerprint = "[^"]+"', f'fingerprint = "{spec.fingerprint()}"'))
    reseal(lock)  # as if the record had been deleted from a signed model's entry
    run = cli("lock", "--check")
    assert run.exit_code == 1 and "the manifest configures a signature and the lock records none" in run.stderr


def test_overlong_paths_in_a_lock_are_refused_on_read(project: Path, hub: FakeHub) -> None:
    from dataclasses import replace

    from modellock.ops.project import write_lock
    from modellock.project.lockfile import Lockfile

    lock = _locked(project, hub)
    model = read_lock(lock).get("tiny")  # type: ignore[union-attr]
    assert model is not None
    long = replace(model.files[0], path="a/" * 2100 + "b")
    forged = replace(model, files=(long, *model.files[1:]), digest="")  # sealed, as a hostile writer would
    write_lock(lock, Lockfile((forged,)))
    for args in (("lock", "--check"), ("sync", "--frozen")):
        run = cli(*args)
        assert run.exit_code == 2 and "the path is 4201 bytes long" in run.stderr, args
        assert len(run.stderr) < 1000  # the path is shortened in the message
    write_lock(lock, Lockfile((replace(model, install_path="x" * 300),)))
    run = cli("lock", "--check")
    assert run.exit_code == 2 and "a path component is 300 bytes long" in run.stderr


@pytest.mark.parametrize("path", ["modellock.toml/x", "/proc/self/x"])
def test_an_install_path_through_a_file_is_a_clean_refusal(project: Path, hub: FakeHub, path: str) -> None:
    lock = _locked(project, hub)
    lock.write_text(_edit(lock.read_text(), r'path = "models/tiny"', f'path = "{path}"'))
    reseal(lock)
    run = cli("sync", "--frozen")
    assert run.exit_code == 1 and "tiny: cannot install into" in run.stderr, run.stderr
