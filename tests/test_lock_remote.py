"""`lock --check --remote`: the lock proven against the Hub, for CI on pull requests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import blake3
import pytest

from modellock.project.lockread import read_lock
from tests.helpers import cli, reseal, snapshot
from tests.hub import FakeHub
from tests.samples import weights
from tests.test_lock_e2e import WEIGHTS, make_tiny

EVIL = weights(b"attacker weights" * 64)


def _lock(project: Path, hub: FakeHub, revision: str = "main") -> Path:
    (project / "modellock.toml").write_text(f'[models.tiny]\nrepo = "acme/tiny"\nrevision = "{revision}"\n')
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    return project / "modellock.lock"


def _swap(lock: Path, commit: str) -> None:
    """What an attacker's pull request does: another commit, and digests recomputed for its bytes."""
    text = lock.read_text()
    old = read_lock(lock).get("tiny")  # type: ignore[union-attr]
    assert old is not None
    text = text.replace(old.commit, commit)
    text = text.replace(blake3.blake3(WEIGHTS).hexdigest(), blake3.blake3(EVIL).hexdigest())
    text = text.replace(hashlib.sha256(WEIGHTS).hexdigest(), hashlib.sha256(EVIL).hexdigest())
    text = text.replace(f"size = {len(WEIGHTS)}", f"size = {len(EVIL)}")
    lock.write_text(text)
    reseal(lock)
    assert cli("lock", "--check").exit_code == 0  # offline, the forged lock is indistinguishable


def _refused(project: Path, *needles: str) -> None:
    before = snapshot(project)
    run = cli("lock", "--check", "--remote")
    assert run.exit_code == 1, run.stdout
    assert "does not match what the Hub holds" in run.stderr and "hint:" in run.stderr
    for needle in needles:
        assert needle in run.stderr
    assert snapshot(project) == before


def test_an_honest_lock_is_proven_without_downloading_weights(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    _lock(project, hub)
    hub.requests.clear()
    run = cli("lock", "--check", "--remote")
    assert run.exit_code == 0, run.stderr
    assert "matches the Hub (1 model, 3 files;" in run.stdout
    fetched = [p for _, p in hub.requests if "/resolve/" in p]
    assert fetched and not any(p.endswith("model.safetensors") for p in fetched)  # LFS compared by SHA-256


def test_a_commit_only_a_pull_request_reaches_is_refused(project: Path, hub: FakeHub) -> None:
    base = make_tiny(hub)
    repo = hub.repos[("model", "acme/tiny")]
    lock = _lock(project, hub)
    files = dict(repo.commits[base])
    evil = repo.commit({**{p: b.data for p, b in files.items()}, "model.safetensors": EVIL}, branch=None, parent=base)
    repo.prs[1] = evil
    _swap(lock, evil)
    _refused(project, f"{evil[:7]} is reachable only from refs/pr/1, not from branch main")


def test_a_commit_outside_the_branch_is_refused(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    repo = hub.repos[("model", "acme/tiny")]
    lock = _lock(project, hub)
    other = repo.commit({"config.json": b"{}", "model.safetensors": EVIL, "sub/dir/extra.json": b"{}"}, branch="dev")
    _swap(lock, other)
    _refused(project, f"{other[:7]} is not in the history of branch main")


def test_the_pull_request_the_manifest_asks_for_is_accepted(project: Path, hub: FakeHub) -> None:
    base = make_tiny(hub)
    repo = hub.repos[("model", "acme/tiny")]
    repo.prs[7] = repo.commit({"model.safetensors": EVIL}, branch=None, parent=base, keep=False)
    _lock(project, hub, "refs/pr/7")
    assert cli("lock", "--check", "--remote").exit_code == 0


def test_a_moved_tag_is_refused(project: Path, hub: FakeHub) -> None:
    first = make_tiny(hub)
    repo = hub.repos[("model", "acme/tiny")]
    repo.tags["v1"] = first
    _lock(project, hub, "v1")
    assert cli("lock", "--check", "--remote").exit_code == 0
    repo.tags["v1"] = repo.commit({"config.json": b'{"moved": 1}'}, keep=True)
    _refused(project, f"tag v1 points at {repo.tags['v1'][:7]}, the lock says {first[:7]}")


def test_an_older_commit_of_the_branch_passes_but_its_listing_must_match(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    lock = _lock(project, hub)
    text = lock.read_text()
    # Same commit, a regular file's digests swapped (resealed): the Hub's bytes disagree.
    config = read_lock(lock).get("tiny").files[0]  # type: ignore[union-attr]
    lock.write_text(text.replace(config.blake3, "0" * 64).replace(config.sha256, "1" * 64))
    reseal(lock)
    _refused(project, "config.json: BLAKE3 mismatch")
    lock.write_text(text.replace(hashlib.sha256(WEIGHTS).hexdigest(), "2" * 64))
    reseal(lock)
    _refused(project, "model.safetensors: the Hub's LFS SHA-256 is")


def test_a_commit_the_repository_does_not_have_is_refused(project: Path, hub: FakeHub) -> None:
    make_tiny(hub)
    lock = _lock(project, hub)
    old = read_lock(lock).get("tiny").commit  # type: ignore[union-attr]
    lock.write_text(lock.read_text().replace(old, "0123456789" * 4))
    reseal(lock)
    _refused(project, "not found in acme/tiny")


def test_remote_needs_check(project: Path) -> None:
    run = cli("lock", "--remote")
    assert run.exit_code == 2 and "--remote goes with --check" in run.stderr


def test_the_proof_never_asks_the_endpoint_a_pull_request_names(
    project: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    make_tiny(hub)
    lock = _lock(project, hub)
    attacker = FakeHub()
    try:
        # The attacker's Hub serves the repository with their weights; the PR points the manifest at it.
        files = {"config.json": b"{}", "model.safetensors": EVIL, "sub/dir/extra.json": b"{}"}
        attacker.repo("acme/tiny").commit(files)
        manifest = project / "modellock.toml"
        manifest.write_text(f'[settings]\nendpoint = "{attacker.endpoint}"\n' + manifest.read_text())
        monkeypatch.delenv("HF_ENDPOINT")
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.endpoint)  # the CI's own Hub
        assert cli("lock", "--upgrade").exit_code == 0  # re-resolved at the attacker's Hub
        assert cli("lock", "--check").exit_code == 0
        attacker.requests.clear()
        run = cli("lock", "--check", "--remote")
        assert run.exit_code == 1, run.stdout
        assert attacker.requests == []
    finally:
        attacker.close()
    assert lock.exists()


def _pull_request_commit(hub: FakeHub) -> str:
    base = make_tiny(hub)
    repo = hub.repos[("model", "acme/tiny")]
    files = {p: b.data for p, b in repo.commits[base].items()}
    evil = repo.commit({**files, "model.safetensors": EVIL}, branch=None, parent=base)
    repo.prs[1] = evil
    return evil


def test_lock_refuses_a_hash_only_a_pull_request_reaches(project: Path, hub: FakeHub) -> None:
    evil = _pull_request_commit(hub)
    (project / "modellock.toml").write_text(f'[models.tiny]\nrepo = "acme/tiny"\nrevision = "{evil}"\n')
    before = snapshot(project)
    run = cli("lock")
    assert run.exit_code == 1, run.stdout
    assert f"refusing tiny: {evil[:7]} is on no branch or tag of acme/tiny, only in refs/pr/1" in run.stderr
    assert 'hint: if you mean that pull request, set revision = "refs/pr/1"' in run.stderr
    assert snapshot(project) == before  # no lock written
    assert not any(p.endswith("model.safetensors") for _, p in hub.requests if "/resolve/" in p)  # refused first


def test_remote_refuses_a_hash_only_a_pull_request_reaches(
    project: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's attack: a pull request to our repository pins a commit of someone's PR on the model repo
    and re-locks (with a modellock that did not check, or by hand); the CI gate must catch it."""
    import modellock.ops.lock

    evil = _pull_request_commit(hub)
    (project / "modellock.toml").write_text(f'[models.tiny]\nrepo = "acme/tiny"\nrevision = "{evil}"\n')
    with monkeypatch.context() as patched:
        patched.setattr(modellock.ops.lock, "refuse_unpublished", lambda *args: None)
        assert cli("lock").exit_code == 0
    assert cli("lock", "--check").exit_code == 0  # offline, the lock is whole and matches the manifest
    _refused(project, f"{evil[:7]} is on no branch or tag of acme/tiny, only in refs/pr/1")


def test_a_hash_on_a_tag_or_deep_in_a_branch_is_accepted(project: Path, hub: FakeHub) -> None:
    first = make_tiny(hub)
    repo = hub.repos[("model", "acme/tiny")]
    repo.commit({"config.json": b'{"second": 1}'}, keep=True)
    tagged = repo.commit({"config.json": b'{"tagged": 1}'}, branch=None, parent=first, keep=True)
    repo.tags["v2"] = tagged
    for commit in (first, tagged):
        _lock(project, hub, commit)
        run = cli("lock", "--check", "--remote")
        assert run.exit_code == 0, run.stderr


def test_a_hash_no_ref_reaches_is_refused(project: Path, hub: FakeHub) -> None:
    base = make_tiny(hub)
    repo = hub.repos[("model", "acme/tiny")]
    orphan = repo.commit({"config.json": b"{}"}, branch=None, parent=base)
    (project / "modellock.toml").write_text(f'[models.tiny]\nrepo = "acme/tiny"\nrevision = "{orphan}"\n')
    run = cli("lock")
    assert run.exit_code == 1 and f"{orphan[:7]} is on no branch, tag or pull request of acme/tiny" in run.stderr
    assert "hint: check the commit id" in run.stderr
    assert not (project / "modellock.lock").exists()


UNSAFE = "unsafe av=safe protectai=unsafe"


def _scanned(project: Path, hub: FakeHub) -> Path:
    from tests.test_hub_scan import FILES

    hub.repo("acme/m").commit(FILES)
    (project / "modellock.toml").write_text('[models.m]\nrepo = "acme/m"\n')
    assert cli("lock").exit_code == 0
    assert cli("lock", "--check", "--remote").exit_code == 0
    return project / "modellock.lock"


def _reseal_scan(lock: Path, path: str, scan: str, *, offline_ok: bool = True) -> None:
    from dataclasses import replace

    from modellock.ops.project import write_lock
    from modellock.project.lockfile import Lockfile

    m = read_lock(lock).get("m")  # type: ignore[union-attr]
    assert m is not None
    files = tuple(replace(f, hub_scan=scan) if f.path == path else f for f in m.files)
    write_lock(lock, Lockfile((replace(m, files=files, digest=""),)))  # sealed, as a hostile writer would
    assert cli("lock", "--check").exit_code == (0 if offline_ok else 1)


def test_remote_refuses_a_recorded_hub_scan_the_hub_does_not_give(project: Path, hub: FakeHub) -> None:
    from tests.test_hub_scan import CLEAN

    lock = _scanned(project, hub)
    _reseal_scan(lock, "config.json", "safe")  # a record that claims less than the Hub said
    run = cli("lock", "--check", "--remote")
    assert run.exit_code == 1
    assert f"config.json: the lock records the Hub's scan as `safe`, the Hub says `{CLEAN}`" in run.stderr


def test_a_resealed_record_that_copies_a_flag_hides_nothing(project: Path, hub: FakeHub) -> None:
    """The issue's case: the Hub flags a locked file, and the lock's record is resealed to say the same."""
    from tests.test_hub_scan import _unsafe

    lock = _scanned(project, hub)
    hub.repos[("model", "acme/m")].scans["model.safetensors"] = _unsafe()
    _reseal_scan(lock, "model.safetensors", UNSAFE, offline_ok=False)
    run = cli("lock", "--check")  # offline: `lock` never writes a flag the manifest does not allow
    assert f"model.safetensors: the lock records a Hub scan flag (`{UNSAFE}`) that the manifest's" in run.stderr
    run = cli("audit")
    assert run.exit_code == 1, run.stdout
    assert "No Hub scan changed" not in run.stdout
    assert "UNSAFE (not in hub-scan-allow) m (acme/m@" in run.stdout
    before = snapshot(project)
    run = cli("lock")  # the entry is not believed, and the Hub's flag stops the re-lock
    assert run.exit_code == 1 and "the Hub's own scan flags 1 file(s)" in run.stderr
    assert snapshot(project) == before


def test_remote_reports_a_flag_the_hub_raised_after_locking(project: Path, hub: FakeHub) -> None:
    from tests.test_hub_scan import CLEAN, _unsafe

    _scanned(project, hub)
    hub.repos[("model", "acme/m")].scans["model.safetensors"] = _unsafe()
    _refused(
        project,
        f"model.safetensors: the lock records the Hub's scan as `{CLEAN}`, the Hub says `{UNSAFE}`",
        f"model.safetensors: the Hub's own scan flags it (`{UNSAFE}`) and the manifest's hub-scan-allow",
    )


def test_a_flag_the_manifest_allows_passes(project: Path, hub: FakeHub) -> None:
    from tests.test_hub_scan import FILES, _unsafe

    hub.repo("acme/m").commit(FILES)
    hub.repos[("model", "acme/m")].scans["model.safetensors"] = _unsafe()
    (project / "modellock.toml").write_text('[models.m]\nrepo = "acme/m"\nhub-scan-allow = ["model.safetensors"]\n')
    assert cli("lock").exit_code == 0
    run = cli("lock", "--check", "--remote")
    assert run.exit_code == 0, run.stderr
    assert cli("audit").exit_code == 0


def test_a_rescan_after_locking_is_reported_with_the_way_to_record_it(project: Path, hub: FakeHub) -> None:
    from tests.test_hub_scan import CLEAN

    _scanned(project, hub)
    hub.repos[("model", "acme/m")].scans["config.json"] = {"status": "safe"}
    _refused(
        project,
        f"config.json: the lock records the Hub's scan as `{CLEAN}`, the Hub says `safe`",
        "`modellock lock --upgrade-model m` records it",
    )
    assert cli("lock", "--upgrade-model", "m").exit_code == 0
    assert cli("lock", "--check", "--remote").exit_code == 0


@pytest.mark.parametrize(
    ("recorded", "now", "allowed", "expected"),
    [
        ("safe", "safe", None, []),
        ("", "unsafe", None, []),  # no record claims nothing; without a manifest no flag is judged
        ("", "unsafe", (), ["flags it"]),
        ("", "unsafe", ("w",), []),
        ("safe", "unsafe", ("w",), ["records the Hub's scan as `safe`, the Hub says `unsafe`"]),
        ("unsafe", "unsafe", (), ["flags it"]),
        ("unsafe", "unsafe", ("w",), []),
        ("safe", None, None, ["the Hub says `none`"]),
        ("safe", "suspicious", (), ["records the Hub's scan", "flags it"]),
    ],
)
def test_scan_problems(recorded: str, now: str | None, allowed: tuple[str, ...] | None, expected: list[str]) -> None:
    from modellock.ops.prove import scan_problems
    from modellock.project.hubscan import parse
    from modellock.project.lockfile import LockedFile, LockedModel
    from modellock.sources import RemoteFile

    locked = LockedFile("w", 1, "0" * 64, "1" * 64, hub_scan=recorded)
    model = LockedModel("m", "huggingface", "acme/m", "model", "models/m", "main", "0" * 40, "", (locked,))
    listed = {"w": RemoteFile("w", 1, "2" * 40, hub_scan=parse(now) if now else None)}
    found = scan_problems(model, listed, allowed)
    assert len(found) == len(expected), found
    for message, needle in zip(found, expected, strict=True):
        assert needle in message


def test_remote_refuses_resealed_card_facts(project: Path, hub: FakeHub) -> None:
    from dataclasses import replace

    from modellock.ops.project import write_lock
    from modellock.project.card import LockedCard
    from modellock.project.lockfile import Lockfile

    hub.repo("acme/carded").commit(
        {"config.json": b"{}"}, card={"license": "cc-by-nc-4.0", "pipeline_tag": "fill-mask"}
    )
    (project / "modellock.toml").write_text('[models.c]\nrepo = "acme/carded"\n')
    assert cli("lock").exit_code == 0
    assert cli("lock", "--check", "--remote").exit_code == 0
    lock = project / "modellock.lock"
    m = read_lock(lock).get("c")  # type: ignore[union-attr]
    assert m is not None and m.card == LockedCard("cc-by-nc-4.0", "fill-mask")
    write_lock(lock, Lockfile((replace(m, card=LockedCard("apache-2.0", "fill-mask")),)))  # a friendlier licence
    assert cli("lock", "--check").exit_code == 0
    _refused(project, 'the lock records card = { license = "apache-2.0", task = "fill-mask" }, the model card at')


@pytest.mark.parametrize(
    ("recorded", "allow", "flagged"),
    [
        ("", "", False),
        ("safe av=safe", "", False),
        ("queued", "", False),
        ("unsafe", "", True),
        ("safe protectai=suspicious", "", True),  # a scanner's flag counts as lock counts it
        ("unsafe", 'hub-scan-allow = ["w"]\n', False),
        ("unsafe", 'hub-scan-allow = ["other"]\n', True),
    ],
)
def test_a_recorded_flag_needs_the_manifests_allow(tmp_path: Path, recorded: str, allow: str, flagged: bool) -> None:
    from modellock.ops.check import manifest_differences
    from modellock.project.lockfile import LockedFile, LockedModel
    from modellock.project.manifest import load_manifest

    (tmp_path / "modellock.toml").write_text(f'[models.m]\nrepo = "acme/m"\n{allow}')
    spec = load_manifest(tmp_path / "modellock.toml").models["m"]
    file = LockedFile("w", 1, "0" * 64, "1" * 64, hub_scan=recorded)
    model = LockedModel("m", "huggingface", "acme/m", "model", spec.install_path, "main", "0" * 40, "", (file,))
    found = manifest_differences(model, spec, tmp_path)
    assert [p for p in found if "Hub scan flag" in p] == (
        [f"w: the lock records a Hub scan flag (`{recorded}`) that the manifest's hub-scan-allow does not accept; "
         "`lock` refuses such files"] if flagged else []
    )  # fmt: skip
