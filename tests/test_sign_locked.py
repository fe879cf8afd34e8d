"""`modellock sign NAME`: a locked model signed from the lock's digests once the store's bytes are proved;
the signature published to the (local) Hub is then added with `add --public-key`, locked and synced."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modellock.project.lockread import read_lock
from modellock.signing.bundle import Signer
from modellock.signing.dirverify import verify_directory
from modellock.store.blobs import Store
from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.samples import weights
from tests.test_sign import key_pair, make_model, reference, statement_of

FILES = {
    "config.json": b'{"model_type": "bert"}\n',
    "model.safetensors": weights(b"\x07" * 4096),
    "README.md": b"# m\n",
    "empty.txt": b"",
}


@pytest.fixture
def locked(project: Path, hub: FakeHub) -> Path:
    hub.repo("acme/m").commit(FILES)
    (project / "modellock.toml").write_text('[models.m]\nrepo = "acme/m"\n')
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    return project


def test_sign_a_locked_model_and_the_reference_accepts_it(locked: Path, tmp_path: Path) -> None:
    private, public = key_pair(tmp_path)
    run = cli("sign", "m", "--key", str(private))
    assert run.exit_code == 0, run.stderr
    sig = locked / "signatures" / "m" / "model.sig"
    assert " + m -> signatures/m/model.sig (4 files, sha256, root sha256:" in run.stdout
    statement = statement_of(sig)
    model = read_lock(locked / "modellock.lock").get("m")  # type: ignore[union-attr]
    assert model is not None
    # Files mode: every digest is the lock's own SHA-256 (nothing was hashed again).
    assert {r["name"]: r["digest"] for r in statement["predicate"]["resources"]} == {
        f.path: f.sha256 for f in model.files
    }
    assert statement["subject"][0]["name"] == "m"
    assert f"root sha256:{statement['subject'][0]['digest']['sha256']}" in run.stdout
    # The same bytes as a directory: the reference verifier accepts the signature.
    directory = make_model(tmp_path / "published", FILES)
    done = reference("verify", "key", "--signature", str(sig), "--public_key", str(public), str(directory))
    assert done.returncode == 0, done.stderr + done.stdout
    verify_directory(sig.read_bytes(), Signer("key", public_key=public.read_bytes()), None, directory)


def test_publish_then_add_with_public_key_locks_and_syncs_pinned(
    locked: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sign, publish model.sig beside the files, and a consumer adds it in one command with the key pinned."""
    private, public = key_pair(tmp_path)
    assert cli("sign", "m", "--key", str(private)).exit_code == 0
    hub.repo("acme/m").commit({**FILES, "model.sig": (locked / "signatures/m/model.sig").read_bytes()})
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    monkeypatch.chdir(consumer)
    (consumer / "signer.pem").write_bytes(public.read_bytes())
    run = cli("add", "acme/m", "--public-key", "signer.pem")
    assert run.exit_code == 0, run.stderr
    assert "Verified signature of m: key" in run.stdout and "pinned in the manifest" in run.stdout
    lock = read_lock(consumer / "modellock.lock")
    assert lock is not None and lock.get("m").signature is not None  # type: ignore[union-attr]
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    assert (consumer / "models" / "m" / "model.safetensors").read_bytes() == FILES["model.safetensors"]

    # A byte changed upstream after signing is refused by modellock (and, below, by the reference).
    changed = {**FILES, "config.json": b'{"model_type": "gpt2"}\n'}
    hub.repo("acme/m").commit({**changed, "model.sig": (locked / "signatures/m/model.sig").read_bytes()})
    before = snapshot(consumer)
    run = cli("lock", "--upgrade")
    assert run.exit_code == 1 and "config.json: sha256 digest differs from the signed one" in run.stderr
    assert snapshot(consumer) == before
    directory = make_model(tmp_path / "changed", changed)
    done = reference("verify", "key", "--signature", str(locked / "signatures/m/model.sig"),
                     "--public_key", str(public), str(directory))  # fmt: skip
    assert done.returncode != 0


def test_shards_of_a_locked_model_hash_the_verified_blobs(locked: Path, tmp_path: Path) -> None:
    private, public = key_pair(tmp_path)
    run = cli("sign", "m", "--key", str(private), "--serialization", "shards", "--shard-size", "1000",
              "--signature", "m.sig")  # fmt: skip
    assert run.exit_code == 0, run.stderr
    assert "empty.txt" in run.stderr  # shard mode cannot sign it: said, not hidden
    names = [r["name"] for r in statement_of(locked / "m.sig")["predicate"]["resources"]]
    size = len(FILES["model.safetensors"])
    assert [n for n in names if n.startswith("model.safetensors")] == [
        f"model.safetensors:{s}:{min(s + 1000, size)}" for s in range(0, size, 1000)
    ]
    assert not any(n.startswith("empty.txt") for n in names)
    _, coverage = verify_directory((locked / "m.sig").read_bytes(), Signer("key", public_key=public.read_bytes()),
                                   None, make_model(tmp_path / "d", FILES), signature_name="m.sig")  # fmt: skip
    assert coverage.unsigned_empty == ("empty.txt",)


def test_a_shard_signature_locks_with_its_empty_files_reported(
    locked: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The empty-file gap (model-transparency #653): the lock still names the empty file (size 0, digests, sealed),
    so it is installed as locked; the summary says the signature does not cover it."""
    private, public = key_pair(tmp_path)
    assert cli("sign", "m", "--key", str(private), "--serialization", "shards", "--shard-size", "1000").exit_code == 0
    hub.repo("acme/m").commit({**FILES, "model.sig": (locked / "signatures/m/model.sig").read_bytes()})
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    monkeypatch.chdir(consumer)
    (consumer / "signer.pem").write_bytes(public.read_bytes())
    run = cli("add", "acme/m", "--public-key", "signer.pem")
    assert run.exit_code == 0, run.stderr
    assert "empty, so not in the shard-mode signature (the lock covers them): empty.txt" in run.stdout
    lock = read_lock(consumer / "modellock.lock")
    assert lock is not None
    assert any(f.path == "empty.txt" and f.size == 0 for f in lock.get("m").files)  # type: ignore[union-attr]
    assert cli("sync").exit_code == 0
    assert (consumer / "models" / "m" / "empty.txt").read_bytes() == b""


def test_a_store_byte_mismatch_is_exit_1_and_nothing_is_written(locked: Path, tmp_path: Path) -> None:
    private, _ = key_pair(tmp_path)
    model = read_lock(locked / "modellock.lock").get("m")  # type: ignore[union-attr]
    assert model is not None
    f = next(f for f in model.files if f.path == "model.safetensors")
    blob = Store(tmp_path / "store").blob_path(f.blake3)
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[100] ^= 1
    blob.write_bytes(bytes(data))  # same size, other bytes
    before = snapshot(locked)
    run = cli("sign", "m", "--key", str(private))
    assert run.exit_code == 1, run.stderr
    assert "model.safetensors: the store's bytes no longer match the lock" in run.stderr and "hint:" in run.stderr
    assert snapshot(locked) == before


def test_a_missing_blob_says_sync_first(locked: Path, tmp_path: Path) -> None:
    private, _ = key_pair(tmp_path)
    model = read_lock(locked / "modellock.lock").get("m")  # type: ignore[union-attr]
    assert model is not None
    Store(tmp_path / "store").evict(model.files[0].blake3)
    run = cli("sign", "m", "--key", str(private))
    assert run.exit_code == 1 and "is not in the store" in run.stderr and "modellock sync" in run.stderr
    assert not (locked / "signatures").exists()


def test_two_models_are_signed_together_or_not_at_all(locked: Path, hub: FakeHub, tmp_path: Path) -> None:
    private, _ = key_pair(tmp_path)
    run = cli("sign", "m", "no-such-model", "--key", str(private))
    assert run.exit_code == 2 and "no-such-model is neither a locked model nor a path" in run.stderr
    assert not (locked / "signatures").exists()
    run = cli("sign", "m", "m", "--key", str(private))
    assert run.exit_code == 2 and "two targets would write the same signature file" in run.stderr


def test_json_output(locked: Path, tmp_path: Path) -> None:
    private, _ = key_pair(tmp_path)
    run = cli("sign", "m", "--key", str(private), "--format", "json")
    assert run.exit_code == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["schema"] == 1 and doc["ok"] is True
    [entry] = doc["signatures"]
    assert entry["target"] == "m" and entry["signature"] == "signatures/m/model.sig"
    assert entry["root_digest"].startswith("sha256:") and len(entry["root_digest"]) == 71
    assert (entry["files"], entry["serialization"], entry["hash"], entry["unsigned_empty"]) == (
        4,
        "files",
        "sha256",
        [],
    )


KEYS = Path(__file__).parent / "data" / "oms-vectors" / "keys"


def _consumer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: str = "") -> Path:
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    monkeypatch.chdir(consumer)
    if settings:
        (consumer / "modellock.toml").write_text(settings)
    return consumer


def test_certificate_signed_then_added_with_its_root(
    locked: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli("sign", "m", "--key", str(KEYS / "signing-key.pem"), "--certificate", str(KEYS / "signing-key-cert.pem"),
              "--chain", str(KEYS / "int-ca-cert.pem"))  # fmt: skip
    assert run.exit_code == 0, run.stderr
    hub.repo("acme/m").commit({**FILES, "model.sig": (locked / "signatures/m/model.sig").read_bytes()})
    consumer = _consumer(tmp_path, monkeypatch)
    (consumer / "roots.pem").write_bytes((KEYS / "ca-cert.pem").read_bytes())
    run = cli("add", "acme/m", "--certificate-chain", "roots.pem")
    assert run.exit_code == 0, run.stderr
    assert "Verified signature of m: certificate, CN=intermediate-ca (pinned in the manifest)" in run.stdout
    assert cli("sync").exit_code == 0


def test_keyless_signed_then_added_with_identity_and_issuer(
    locked: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sigstore: object
) -> None:
    from tests.sigstore_fake import FakeSigstore
    from tests.sigstore_service import ISSUER, identity_token, serve

    assert isinstance(sigstore, FakeSigstore)
    with serve(sigstore) as config:
        (tmp_path / "trust-config.json").write_text(json.dumps(config))
        run = cli("sign", "m", "--identity-token", identity_token("release@acme.example"),
                  "--trust-config", str(tmp_path / "trust-config.json"))  # fmt: skip
    assert run.exit_code == 0, run.stderr
    hub.repo("acme/m").commit({**FILES, "model.sig": (locked / "signatures/m/model.sig").read_bytes()})
    consumer = _consumer(tmp_path, monkeypatch, '[settings]\ntrusted-root = "trusted_root.json"\n')
    (consumer / "trusted_root.json").write_text(json.dumps(config["trustedRoot"]))
    run = cli("add", "acme/m", "--identity", "someone@else.example", "--issuer", ISSUER)
    assert run.exit_code == 1 and "release@acme.example" in run.stderr
    run = cli("add", "acme/m", "--identity", "release@acme.example", "--issuer", ISSUER)
    assert run.exit_code == 0, run.stderr
    assert "Verified signature of m: sigstore, release@acme.example" in run.stdout
    assert cli("sync").exit_code == 0


def test_a_model_the_reference_signed_with_a_certificate_is_added_in_one_command(
    project: Path, hub: FakeHub, tmp_path: Path
) -> None:
    """`model_signing sign certificate` (the real CLI), published to the Hub, then `add --certificate-chain`."""
    import subprocess

    from tests.test_sign import MODEL_SIGNING

    directory = make_model(tmp_path / "published", FILES)
    done = subprocess.run(
        [str(MODEL_SIGNING), "sign", "certificate", "--private_key", str(KEYS / "signing-key.pem"),
         "--signing_certificate", str(KEYS / "signing-key-cert.pem"), "--certificate_chain",
         str(KEYS / "int-ca-cert.pem"), "--signature", str(tmp_path / "model.sig"), str(directory)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    hub.repo("acme/refcert").commit({**FILES, "model.sig": (tmp_path / "model.sig").read_bytes()})
    (project / "roots.pem").write_bytes((KEYS / "ca-cert.pem").read_bytes())
    run = cli("add", "acme/refcert", "--certificate-chain", "roots.pem")
    assert run.exit_code == 0, run.stderr
    assert "Verified signature of refcert: certificate, CN=intermediate-ca (pinned in the manifest)" in run.stdout
    assert cli("sync").exit_code == 0
