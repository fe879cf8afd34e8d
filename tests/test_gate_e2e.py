"""The safety gate in `add`, `lock` and `sync`: refusals name the file and the fix, and write nothing."""

from __future__ import annotations

from pathlib import Path

from modellock.project.lockread import read_lock
from tests import corpus
from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.samples import weights

REAL_BIN = (Path(__file__).parent / "data" / "torch" / "benign_zip.bin").read_bytes()
SAFE = weights(b"\x01" * 64)


def manifest(project: Path, body: str) -> None:
    (project / "modellock.toml").write_text(body)


def test_add_excludes_pickle_copies_of_safetensors(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/both").commit(
        {"config.json": b"{}", "model.safetensors": SAFE, "pytorch_model.bin": REAL_BIN, "training_args.bin": REAL_BIN}
    )
    run = cli("add", "acme/both")
    assert run.exit_code == 0, run.stderr
    assert "Excluding pickle-format weights (pytorch_model.bin, training_args.bin)" in run.stdout
    assert 'exclude = ["*.bin"]' in (project / "modellock.toml").read_text()
    model = read_lock(project / "modellock.lock").get("both")  # type: ignore[union-attr]
    assert {f.path: f.format for f in model.files} == {"config.json": "data", "model.safetensors": "safetensors"}
    assert cli("lock", "--check").exit_code == 0


def test_pickle_only_repo_is_refused_with_the_fix(project: Path, hub: FakeHub, tmp_path: Path) -> None:
    hub.repo("acme/old").commit({"config.json": b"{}", "pytorch_model.bin": REAL_BIN})
    run = cli("add", "acme/old")
    assert run.exit_code == 1
    assert "refusing old: 1 file failed the safety gate" in run.stderr
    assert "pytorch_model.bin (torch-zip): pickle-based" in run.stderr
    assert 'set pickle = "scan" in [models.old]' in run.stderr
    assert not (project / "modellock.toml").exists() and not (project / "modellock.lock").exists()


def test_scan_policy_locks_clean_pickles_and_records_the_verdict(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/old").commit({"pytorch_model.bin": REAL_BIN})
    manifest(project, '[policy]\npickle = "scan"\n\n[models.old]\nrepo = "acme/old"\n')
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    text = (project / "modellock.lock").read_text()
    assert 'format = "torch-zip", scan = "clean", scanner = "modellock-scan 2"' in text
    assert 'policy = { pickle = "scan", remote-code = "deny", allow-files = [] }' in text
    assert cli("lock", "--check").exit_code == 0
    assert cli("sync").exit_code == 0


def test_malicious_pickle_refused_even_when_scanning(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/evil").commit(
        {"config.json": b"{}", "pytorch_model.bin": corpus.torch_zip(corpus.call("os", "system"))}
    )
    manifest(project, '[models.evil]\nrepo = "acme/evil"\npickle = "allow"\n')
    before = snapshot(project)
    run = cli("lock")
    assert run.exit_code == 1
    assert "pytorch_model.bin (torch-zip): malicious" in run.stderr and "os.system" in run.stderr
    assert snapshot(project) == before


def test_remote_code_needs_allowing(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/custom").commit({"config.json": b"{}", "modeling_custom.py": b"import torch\n"})
    manifest(project, '[models.custom]\nrepo = "acme/custom"\n')
    run = cli("lock")
    assert run.exit_code == 1 and "modeling_custom.py (code): executable code" in run.stderr
    assert 'remote-code = "allow"' in run.stderr
    manifest(project, '[models.custom]\nrepo = "acme/custom"\nremote-code = "allow"\n')
    assert cli("lock").exit_code == 0
    manifest(project, '[models.custom]\nrepo = "acme/custom"\nallow-files = ["modeling_*.py"]\n')
    assert cli("lock", "--check").exit_code == 1  # the policy is part of the fingerprint
    assert cli("lock").exit_code == 0


def test_disguised_pickle_is_caught_by_content(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/sly").commit({"model.safetensors": corpus.call("os", "system")})
    run = cli("add", "acme/sly")
    assert run.exit_code == 1 and "model.safetensors (pickle)" in run.stderr


def test_sync_enforces_the_lock_policy_again(project: Path, hub: FakeHub, tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    hub.repo("acme/old").commit({"pytorch_model.bin": REAL_BIN})
    manifest(project, '[models.old]\nrepo = "acme/old"\npickle = "scan"\n')
    assert cli("lock").exit_code == 0
    lock = project / "modellock.lock"
    # The lock now says the default policy (pickle denied); a frozen sync must refuse the pickle.
    # (re-sealed, as a hostile lock that knows how to seal would be).
    from dataclasses import replace

    from modellock.ops.project import write_lock
    from modellock.project.lockfile import Lockfile
    from modellock.project.lockread import read_lock
    from modellock.project.policy import DEFAULT_POLICY

    locked = read_lock(lock)
    assert locked is not None
    write_lock(lock, Lockfile(tuple(replace(m, policy=DEFAULT_POLICY) for m in locked.models)))
    run = cli("sync", "--frozen")
    assert run.exit_code == 1 and "pickle is denied" in run.stderr
    assert not (project / "models").exists()


CORPUS = Path(__file__).parent / "data" / "corpus"


def test_real_checkpoints_with_seeded_storages_lock_and_sync_under_scan(project: Path, hub: FakeHub) -> None:
    # Storages starting with pickle opcodes and archive magics used to make 9 in 10 real files "invalid".
    files = {
        "pytorch_model.bin": (CORPUS / "safe" / "llama_bf16.bin").read_bytes(),
        "optimizer.pt": (CORPUS / "safe" / "optimizer_adamw.pt").read_bytes(),
        "rng_state.pth": (CORPUS / "safe" / "rng_state.pth").read_bytes(),
        "seeded.pt": (CORPUS / "safe" / "seeded_storages.pt").read_bytes(),
    }
    hub.repo("acme/real").commit(files)
    manifest(project, '[models.real]\nrepo = "acme/real"\npickle = "scan"\n')
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    assert cli("sync").exit_code == 0


def test_a_payload_past_the_old_read_window_is_refused_at_lock(project: Path, hub: FakeHub) -> None:
    long_text = b"X" + (1_100_000).to_bytes(4, "little") + b"a" * 1_100_000 + b"0"
    payload = corpus.P2 + long_text + corpus.g("os", "system") + corpus.CMD + b"\x85R."
    hub.repo("acme/long").commit({"model.bin": payload, "inner.bin": corpus.torch_zip(payload)})
    manifest(project, '[models.long]\nrepo = "acme/long"\npickle = "scan"\n')
    before = snapshot(project)
    run = cli("lock")
    assert run.exit_code == 1
    assert "model.bin (pickle): malicious" in run.stderr and "inner.bin (torch-zip): malicious" in run.stderr
    assert "allow-files" not in run.stderr
    assert snapshot(project) == before
