"""OMS signatures through lock, sync and verify, against a test-only Sigstore instance (offline)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from modellock.project.lockread import read_lock
from tests.helpers import cli, reseal, snapshot
from tests.hub import FakeHub
from tests.samples import weights
from tests.sigstore_fake import FakeSigstore, sign_with_key, statement

ID = "https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v1"
ISS = "https://token.actions.githubusercontent.com"
FILES = {"config.json": b'{"model_type": "bert"}\n', "model.safetensors": weights(b"\x07" * 4096)}


@pytest.fixture
def signed(project: Path, hub: FakeHub, sigstore: FakeSigstore) -> Path:
    """acme/signed with a valid model.sig, and a manifest trusting the test Sigstore root."""
    (project / "trusted_root.json").write_text(json.dumps(sigstore.trusted_root()))
    commit_signed(hub, sigstore, FILES)
    write_manifest(project)
    return project


def commit_signed(
    hub: FakeHub,
    sigstore: FakeSigstore,
    files: dict[str, bytes],
    *,
    signed: dict[str, bytes] | None = None,
    identity: str = ID,
    **kwargs: object,
) -> str:
    bundle = sigstore.sign_dsse(statement(signed if signed is not None else files), identity, ISS, **kwargs)  # type: ignore[arg-type]
    repo = hub.repos.get(("model", "acme/signed")) or hub.repo("acme/signed")
    return repo.commit({**files, "model.sig": json.dumps(bundle).encode()})


def write_manifest(project: Path, extra: str = "", policy: str = "") -> None:
    (project / "modellock.toml").write_text(
        f'[settings]\ntrusted-root = "trusted_root.json"\n\n{policy}[models.m]\nrepo = "acme/signed"\n{extra}'
    )


def assert_refused(project: Path, args: tuple[str, ...], *messages: str) -> None:
    before = snapshot(project)
    run = cli(*args)
    assert run.exit_code == 1, run.stderr
    for message in messages:
        assert message in run.stderr, run.stderr
    assert snapshot(project) == before


def test_valid_signature_locks_syncs_and_verifies(signed: Path) -> None:
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    assert f"Verified signature of m: sigstore, {ID} ({ISS}) (trusted on first use), covers 2 files" in run.stdout
    assert "verified against the trusted root" in run.stdout
    sig = read_lock(signed / "modellock.lock").get("m").signature  # type: ignore[union-attr]
    assert sig is not None
    assert (sig.mode, sig.identity, sig.issuer, sig.log_index, sig.covers) == ("sigstore", ID, ISS, 1, 2)
    assert sig.integrated_time == 1735732801 and sig.trust_root.startswith("sha256:")
    assert cli("lock", "--check").exit_code == 0
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    assert "Verified 1 signature offline against the trusted root" in run.stdout
    assert cli("verify").exit_code == 0


def test_blake3_manifest_and_signed_not_installed(project: Path, hub: FakeHub, sigstore: FakeSigstore) -> None:
    (project / "trusted_root.json").write_text(json.dumps(sigstore.trusted_root()))
    bundle = sigstore.sign_dsse(statement(FILES, algorithm="blake3"), ID, ISS)
    hub.repo("acme/signed").commit({**FILES, "model.sig": json.dumps(bundle).encode()})
    write_manifest(project, 'include = ["*.safetensors"]\n')
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    assert "signed, not installed: config.json" in run.stdout


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        (f'signature = {{ identity = "someone@else.example", issuer = "{ISS}" }}\n', "signed by identity"),
        (f'signature = {{ identity = "{ID}", issuer = "https://accounts.google.com" }}\n', "requires issuer"),
    ],
)
def test_wrong_identity_or_issuer(signed: Path, signature: str, message: str) -> None:
    write_manifest(signed, signature)
    assert_refused(signed, ("lock",), message)


def test_same_size_byte_change_in_a_signed_file(project: Path, hub: FakeHub, sigstore: FakeSigstore) -> None:
    (project / "trusted_root.json").write_text(json.dumps(sigstore.trusted_root()))
    tampered = {**FILES, "model.safetensors": weights(b"\x07" * 4095 + b"\x08")}
    commit_signed(hub, sigstore, tampered, signed=FILES)
    write_manifest(project)
    assert_refused(project, ("lock",), "model.safetensors: sha256 digest differs from the signed one")


def test_tampered_bundle(project: Path, hub: FakeHub, sigstore: FakeSigstore) -> None:
    (project / "trusted_root.json").write_text(json.dumps(sigstore.trusted_root()))
    bundle = sigstore.sign_dsse(statement(FILES), ID, ISS)
    payload = bytearray(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    payload[-5] ^= 1
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(bytes(payload)).decode()
    hub.repo("acme/signed").commit({**FILES, "model.sig": json.dumps(bundle).encode()})
    write_manifest(project)
    assert_refused(project, ("lock",), "the signature over the statement is invalid")


def test_swapped_and_renamed_shards(project: Path, hub: FakeHub, sigstore: FakeSigstore) -> None:
    (project / "trusted_root.json").write_text(json.dumps(sigstore.trusted_root()))
    shards = {"model-1.safetensors": weights(b"\x01" * 64), "model-2.safetensors": weights(b"\x02" * 64)}
    swapped = {
        "model-1.safetensors": shards["model-2.safetensors"],
        "model-2.safetensors": shards["model-1.safetensors"],
    }
    commit_signed(hub, sigstore, swapped, signed=shards)
    write_manifest(project)
    assert_refused(project, ("lock",), "model-1.safetensors: sha256 digest differs", "model-2.safetensors")
    renamed = {
        "model-3.safetensors": shards["model-1.safetensors"],
        "model-2.safetensors": shards["model-2.safetensors"],
    }
    commit_signed(hub, sigstore, renamed, signed=shards)
    assert_refused(
        project,
        ("lock",),
        "model-1.safetensors is signed but not in the repository",
        "model-3.safetensors is locked but the signature does not cover it",
    )


def test_selected_file_not_covered(project: Path, hub: FakeHub, sigstore: FakeSigstore) -> None:
    (project / "trusted_root.json").write_text(json.dumps(sigstore.trusted_root()))
    commit_signed(hub, sigstore, {**FILES, "extra.json": b"{}"}, signed=FILES)
    write_manifest(project)
    assert_refused(project, ("lock",), "extra.json is locked but the signature does not cover it")


def test_required_but_absent(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/signed").commit(FILES)
    write_manifest(project, policy="[policy]\nrequire-signatures = true\n\n")
    assert_refused(project, ("lock",), "it is not signed", "require-signatures")


def test_signer_changed_on_upgrade(signed: Path, hub: FakeHub, sigstore: FakeSigstore) -> None:
    assert cli("lock").exit_code == 0
    commit_signed(hub, sigstore, {**FILES, "config.json": b"{}"}, identity="mallory@example.com")
    assert_refused(signed, ("lock", "--upgrade"), "signed by mallory@example.com", "--accept-new-signer")
    run = cli("lock", "--upgrade", "--accept-new-signer")
    assert run.exit_code == 0, run.stderr
    assert read_lock(signed / "modellock.lock").get("m").signature.identity == "mallory@example.com"  # type: ignore[union-attr]


def test_signed_to_unsigned_downgrade(signed: Path, hub: FakeHub) -> None:
    assert cli("lock").exit_code == 0
    hub.repos[("model", "acme/signed")].commit(FILES)  # a new commit without model.sig
    assert_refused(signed, ("lock", "--upgrade"), "the new one is unsigned", "--allow-unsigned")
    run = cli("lock", "--upgrade", "--allow-unsigned")
    assert run.exit_code == 0, run.stderr
    assert read_lock(signed / "modellock.lock").get("m").signature is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"log_delay": timedelta(days=1)}, "expired when it signed"),
        ({"promise": False}, "no verified signing time"),
    ],
)
def test_certificate_outside_validity_or_without_log_time(
    project: Path, hub: FakeHub, sigstore: FakeSigstore, kwargs: dict[str, object], message: str
) -> None:
    (project / "trusted_root.json").write_text(json.dumps(sigstore.trusted_root()))
    commit_signed(hub, sigstore, FILES, **kwargs)
    write_manifest(project)
    assert_refused(project, ("lock",), message)


def test_key_mode(project: Path, hub: FakeHub, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (project / "signer.pem").write_bytes(pem)
    hub.repo("acme/signed").commit({**FILES, "model.sig": json.dumps(sign_with_key(statement(FILES), key)).encode()})
    (project / "modellock.toml").write_text(
        '[models.m]\nrepo = "acme/signed"\nsignature = { public-key = "signer.pem" }\n'
    )
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    sig = read_lock(project / "modellock.lock").get("m").signature  # type: ignore[union-attr]
    assert sig is not None and sig.mode == "key" and sig.key.startswith("sha256:") and sig.public_key
    (project / "modellock.toml").write_text("not = = toml")
    assert cli("sync", "--frozen").exit_code == 0  # verified with the key recorded in the lock
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    (project / "signer.pem").write_bytes(
        other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (project / "modellock.toml").write_text(
        '[models.m]\nrepo = "acme/signed"\nsignature = { public-key = "signer.pem" }\n'
    )
    assert_refused(project, ("lock", "--upgrade"), "signed with a different key")


def test_sync_reverifies_against_the_lock(signed: Path) -> None:
    assert cli("lock").exit_code == 0
    lock = signed / "modellock.lock"
    lock.write_text(lock.read_text().replace(f'identity = "{ID}"', 'identity = "someone@else.example"'))
    reseal(lock)
    assert_refused(
        signed, ("sync", "--frozen", "--trusted-root", str(signed / "trusted_root.json")), "signed by identity"
    )
    assert not (signed / "models").exists()


def test_shipped_production_root_rejects_test_signatures(signed: Path) -> None:
    assert cli("lock").exit_code == 0
    write_manifest(signed)
    (signed / "modellock.toml").write_text(
        (signed / "modellock.toml").read_text().replace('trusted-root = "trusted_root.json"\n', "")
    )
    run = cli("sync")
    assert run.exit_code == 1
    assert "does not chain to the trusted root" in run.stderr and "shipped with sigstore" in run.stderr
    assert not (signed / "models").exists()


def test_lock_check_validates_the_signature_record(signed: Path) -> None:
    assert cli("lock").exit_code == 0
    lock = signed / "modellock.lock"
    lock.write_text(lock.read_text().replace('mode = "sigstore"', 'mode = "bogus"'))
    run = cli("lock", "--check")
    assert run.exit_code == 2 and "unknown mode" in run.stderr and "modellock.lock:" in run.stderr


def _certificate_bundle(payload: bytes) -> tuple[dict[str, object], bytes]:
    """A certificate-mode OMS bundle (leaf signed by a private root) and the root's PEM."""
    from datetime import datetime, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    from tests.sigstore_fake import PAYLOAD_TYPE, b64, pae

    now = datetime.now(timezone.utc)
    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vendor root")])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "release signer")]))
        .issuer_name(root_name)
        .public_key(leaf_key.public_key())
        .serial_number(2)
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    signature = leaf_key.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "x509CertificateChain": {
                "certificates": [{"rawBytes": b64(leaf.public_bytes(serialization.Encoding.DER))}]
            },
            "tlogEntries": [],
        },
        "dsseEnvelope": {"payload": b64(payload), "payloadType": PAYLOAD_TYPE, "signatures": [{"sig": b64(signature)}]},
    }
    return bundle, root.public_bytes(serialization.Encoding.PEM)


def test_certificate_mode(project: Path, hub: FakeHub) -> None:
    bundle, root_pem = _certificate_bundle(statement(FILES))
    hub.repo("acme/signed").commit({**FILES, "model.sig": json.dumps(bundle).encode()})
    (project / "roots.pem").write_bytes(root_pem)
    (project / "modellock.toml").write_text(
        '[models.m]\nrepo = "acme/signed"\nsignature = { certificate-chain = "roots.pem" }\n'
    )
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    sig = read_lock(project / "modellock.lock").get("m").signature  # type: ignore[union-attr]
    assert sig is not None and sig.mode == "certificate" and sig.identity == "CN=release signer"
    assert cli("sync").exit_code == 0 and cli("verify").exit_code == 0
    _, other_root = _certificate_bundle(b"{}")
    (project / "roots.pem").write_bytes(other_root)
    run = cli("verify")
    assert run.exit_code == 1 and "signature:" in run.stdout and "does not lead to a configured root" in run.stdout


def test_default_sync_relocks_with_the_configured_trust_root(signed: Path) -> None:
    run = cli("sync", "--format", "json")  # no lock yet: sync locks first, verifying with the settings' root
    assert run.exit_code == 0, run.stderr
    assert json.loads(run.stdout)["signatures_verified"] == 1


@pytest.mark.parametrize(
    ("content", "message"), [(None, "cannot read the trusted root"), ("{}", "not a Sigstore trusted root")]
)
def test_unusable_trusted_root(signed: Path, content: str | None, message: str) -> None:
    assert cli("lock").exit_code == 0
    root = signed / "elsewhere.json"
    if content is not None:
        root.write_text(content)
    before = snapshot(signed)
    run = cli("sync", "--trusted-root", str(root))
    assert run.exit_code == 2 and message in run.stderr and "elsewhere.json" in run.stderr
    assert snapshot(signed) == before and not (signed / "models").exists()


def test_configured_signature_missing_from_the_repo(signed: Path) -> None:
    write_manifest(signed, 'signature = "signatures/model.sig"\n')
    assert_refused(signed, ("lock",), "the configured signature signatures/model.sig is not in the repository")


def test_prune_keeps_locked_signatures(signed: Path, tmp_path: Path) -> None:
    from modellock.store.blobs import Store

    assert cli("lock").exit_code == 0
    model = read_lock(signed / "modellock.lock").get("m")  # type: ignore[union-attr]
    assert model is not None and model.signature is not None
    assert cli("cache", "prune").exit_code == 0
    assert Store(tmp_path / "store").has(model.signature.blake3, model.signature.size)
    assert cli("sync", "--offline").exit_code == 0


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        (None, None),
        ([(0, 1000), (1000, 2000)], "the signed shards end at byte 2000, the file has"),
        ([(0, 1000), (1500, 4176)], "the signed shards leave a gap at byte 1000"),
        ([(0, 1000), (900, 4176)], "the signed shards leave an overlap at byte 1000"),
        ([(1000, 4176)], "the signed shards leave a gap at byte 0"),
    ],
)
def test_sharded_signatures_must_cover_every_byte(
    project: Path, hub: FakeHub, sigstore: FakeSigstore, ranges: list[tuple[int, int]] | None, message: str | None
) -> None:
    (project / "trusted_root.json").write_text(json.dumps(sigstore.trusted_root()))
    size = len(FILES["model.safetensors"])
    assert ranges is None or ranges[-1][1] in (2000, size)
    shards = {"model.safetensors": ranges} if ranges else None
    bundle = sigstore.sign_dsse(statement(FILES, shard_size=1000, shards=shards), ID, ISS)
    hub.repo("acme/signed").commit({**FILES, "model.sig": json.dumps(bundle).encode()})
    write_manifest(project)
    if message is None:
        run = cli("lock")
        assert run.exit_code == 0, run.stderr
        assert cli("sync").exit_code == 0
    else:
        assert_refused(project, ("lock",), f"model.safetensors: {message}")


def test_public_key_file_with_text_before_the_pem_block(project: Path, hub: FakeHub) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    # What `certtool --load-pubkey ... --pubkey-info` writes, and what model-signing's test keys carry.
    (project / "signer.pem").write_bytes(
        b"Public Key Info:\n\tPublic Key Algorithm: EC/ECDSA\n\tCurve:\tSECP384R1\n\n" + pem
    )
    hub.repo("acme/signed").commit({**FILES, "model.sig": json.dumps(sign_with_key(statement(FILES), key)).encode()})
    (project / "modellock.toml").write_text(
        '[models.m]\nrepo = "acme/signed"\nsignature = { public-key = "signer.pem" }\n'
    )
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    assert cli("lock", "--check").exit_code == 0  # the lock's key is the manifest's key
