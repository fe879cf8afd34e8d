"""Who must have signed: pins in the manifest (`add --public-key`, `--identity/--issuer`), trust on first use
without one, and never a lock's unsealed record as a trust input. Key-signed bundles are made by the real
`model_signing sign key` CLI and served by the local Hub emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from modellock.project.lockread import read_lock
from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.sigstore_fake import FakeSigstore
from tests.test_signatures import FILES, ID, ISS, assert_refused, commit_signed, write_manifest

MODEL_SIGNING = Path(sys.executable).parent / "model_signing"


def _key_pair(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = directory / f"{name}.key", directory / f"{name}.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))  # fmt: skip
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


def _sign_with_model_signing(files: dict[str, bytes], private: Path, work: Path) -> bytes:
    """`model_signing sign key` over a directory holding `files`; the bundle it writes."""
    model = work / "model"
    model.mkdir(parents=True)
    for path, data in files.items():
        (model / path).parent.mkdir(parents=True, exist_ok=True)
        (model / path).write_bytes(data)
    done = subprocess.run(
        [str(MODEL_SIGNING), "sign", "key", "--private_key", str(private), "--signature", str(work / "model.sig"),
         str(model)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return (work / "model.sig").read_bytes()


@pytest.fixture
def key_signed(project: Path, hub: FakeHub, tmp_path: Path) -> Path:
    """acme/keysigned signed by `model_signing sign key`; the public key in the project as signer.pem."""
    private, public = _key_pair(tmp_path, "signer")
    bundle = _sign_with_model_signing(FILES, private, tmp_path / "signing")
    assert "publicKey" in json.loads(bundle)["verificationMaterial"]  # a key-mode bundle: a hint, no certificate
    hub.repo("acme/keysigned").commit({**FILES, "model.sig": bundle})
    (project / "signer.pem").write_bytes(public.read_bytes())
    return project


def _modellock(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as its own process, against the emulator the environment names."""
    return subprocess.run(
        [sys.executable, "-m", "modellock", *args], capture_output=True, text=True, timeout=300, env=dict(os.environ)
    )


def test_add_of_a_key_signed_model_says_how_to_pin_the_key(key_signed: Path) -> None:
    before = snapshot(key_signed)
    done = _modellock("add", "acme/keysigned")
    assert done.returncode == 1, done.stdout
    assert "keysigned: model.sig: signed with a public key (key hint " in done.stderr
    assert "which the manifest does not pin" in done.stderr
    assert "hint: get the signer's public key (PEM) from its publisher and pin it" in done.stderr
    assert "--public-key" in done.stderr and "expected certificate" not in done.stderr
    assert snapshot(key_signed) == before  # neither manifest nor lock


def test_add_with_public_key_writes_the_pin_and_locks(key_signed: Path) -> None:
    done = _modellock("add", "acme/keysigned", "--public-key", "signer.pem")
    assert done.returncode == 0, done.stderr
    assert "Verified signature of keysigned: key, sha256:" in done.stdout
    assert "(pinned in the manifest), covers 2 files" in done.stdout and "first use" not in done.stdout
    manifest = (key_signed / "modellock.toml").read_text()
    assert 'signature = {public-key = "signer.pem"}' in manifest.replace("{ ", "{").replace(" }", "}")
    signature = read_lock(key_signed / "modellock.lock").get("keysigned").signature  # type: ignore[union-attr]
    assert signature is not None and signature.mode == "key" and signature.public_key
    assert _modellock("lock", "--check").returncode == 0
    done = _modellock("sync")
    assert done.returncode == 0, done.stderr
    assert (key_signed / "models" / "keysigned" / "model.safetensors").read_bytes() == FILES["model.safetensors"]


def test_add_with_another_key_is_refused(key_signed: Path, tmp_path: Path) -> None:
    _, other = _key_pair(tmp_path, "other")
    (key_signed / "other.pem").write_bytes(other.read_bytes())
    assert_refused(key_signed, ("add", "acme/keysigned", "--public-key", "other.pem"), "signed with a different key")


def test_a_pin_outside_the_project_is_written_as_an_absolute_path(key_signed: Path, tmp_path: Path) -> None:
    outside = tmp_path / "keys" / "signer.pem"
    outside.parent.mkdir()
    outside.write_bytes((key_signed / "signer.pem").read_bytes())
    run = cli("add", "acme/keysigned", "--public-key", str(outside))
    assert run.exit_code == 0, run.stderr
    assert json.dumps(str(outside)) in (key_signed / "modellock.toml").read_text()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--identity", ID), "--identity and --issuer go together"),
        (("--issuer", ISS), "--identity and --issuer go together"),
        (("--identity", ID, "--issuer", ISS, "--public-key", "signer.pem"), "choose one signer pin"),
        (("--public-key", "missing.pem"), "--public-key: missing.pem is not a file"),
        (("--certificate-chain", "missing.pem"), "--certificate-chain: missing.pem is not a file"),
    ],
)
def test_add_pin_flags_are_checked_before_anything_is_written(
    key_signed: Path, flags: tuple[str, ...], message: str
) -> None:
    before = snapshot(key_signed)
    run = cli("add", "acme/keysigned", *flags)
    assert run.exit_code == 2 and message in run.stderr, run.stderr
    assert snapshot(key_signed) == before


def test_a_pinned_key_repairs_an_edited_signature_record(key_signed: Path) -> None:
    """The issue's case: with `public-key` pinned, an edited (unsealed) identity was used as the previous signer."""
    manifest = '[models.keysigned]\nrepo = "acme/keysigned"\nsignature = { public-key = "signer.pem" }\n'
    (key_signed / "modellock.toml").write_text(manifest)
    run = cli("lock")
    assert run.exit_code == 0 and "(pinned in the manifest)" in run.stdout and "first use" not in run.stdout
    lock = key_signed / "modellock.lock"
    good = lock.read_text()
    signature = read_lock(lock).get("keysigned").signature  # type: ignore[union-attr]
    assert signature is not None
    lock.write_text(good.replace(f'identity = "{signature.identity}"', f'identity = "sha256:{"0" * 64}"'))
    assert cli("lock", "--check").exit_code == 1
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    assert "(pinned in the manifest)" in run.stdout and "the lock records" not in run.stderr
    assert lock.read_text() == good


def test_add_with_identity_and_issuer_pins_a_sigstore_signer(
    project: Path, hub: FakeHub, sigstore: FakeSigstore
) -> None:
    (project / "trusted_root.json").write_text(json.dumps(sigstore.trusted_root()))
    commit_signed(hub, sigstore, FILES)
    run = cli("add", "acme/signed", "--identity", ID, "--issuer", ISS, "--trusted-root", "trusted_root.json")
    assert run.exit_code == 0, run.stderr
    assert f"Verified signature of signed: sigstore, {ID} ({ISS}) (pinned in the manifest)" in run.stdout
    assert f'identity = "{ID}"' in (project / "modellock.toml").read_text()
    before = snapshot(project)
    run = cli("add", "acme/signed", "--name", "again", "--identity", "mallory@example.com", "--issuer", ISS,
              "--trusted-root", "trusted_root.json")  # fmt: skip
    assert run.exit_code == 1 and "signed by identity" in run.stderr
    assert snapshot(project) == before


def test_an_unsealed_record_is_not_the_previous_signer(project: Path, hub: FakeHub, sigstore: FakeSigstore) -> None:
    """Without a pin, an edited record is not believed: `lock` trusts the signer on first use again, and says so."""
    (project / "trusted_root.json").write_text(json.dumps(sigstore.trusted_root()))
    commit_signed(hub, sigstore, FILES)
    write_manifest(project)
    run = cli("lock")
    assert run.exit_code == 0 and "(trusted on first use)" in run.stdout
    lock = project / "modellock.lock"
    good = lock.read_text()
    lock.write_text(good.replace(f'identity = "{ID}"', 'identity = "someone@else.example"'))
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    assert "(trusted on first use again: the lock's entry failed its seal or disagreed with the manifest)" in run.stdout
    assert lock.read_text() == good
    run = cli("lock")  # the sealed record now names the signer: nothing to say
    assert run.exit_code == 0 and "first use" not in run.stdout


def test_a_key_signed_bundle_under_an_identity_pin_fails_cleanly(key_signed: Path) -> None:
    (key_signed / "modellock.toml").write_text(
        f'[models.m]\nrepo = "acme/keysigned"\nsignature = {{ identity = "{ID}", issuer = "{ISS}" }}\n'
    )
    run = cli("lock")
    assert run.exit_code == 1, run.stderr
    assert "m: model.sig: signed with a public key, but the manifest pins Sigstore (keyless)" in run.stderr
    assert not (key_signed / "modellock.lock").exists()


V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"


@pytest.mark.parametrize(
    ("bundle", "kind"),
    [
        ({"mediaType": V03, "verificationMaterial": {"publicKey": {"hint": "ab"}, "tlogEntries": []}}, "key"),
        ({"mediaType": V03, "verificationMaterial": {"x509CertificateChain": {"certificates": []}}}, "certificate"),
        ({"mediaType": V03, "verificationMaterial": {"certificate": {"rawBytes": ""}}}, "sigstore"),
        # sigstore bundles before v0.3 carry the Fulcio certificate as a chain: still keyless
        (
            {
                "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.2",
                "verificationMaterial": {"x509CertificateChain": {}},
            },
            "sigstore",
        ),
        ({"verificationMaterial": {"publicKey": {}, "certificate": {}}}, "sigstore"),
        ({"verificationMaterial": []}, None),
        ([], None),
        ("[" * 100_000, None),  # hostile nesting: unreadable, never a crash
        ("not json", None),
    ],
)
def test_bundle_kind(bundle: object, kind: str | None) -> None:
    from modellock.signing.bundle import bundle_kind

    raw = bundle.encode() if isinstance(bundle, str) else json.dumps(bundle).encode()
    assert bundle_kind(raw) == kind


@pytest.mark.parametrize(
    ("signature", "is_pinned"),
    [
        ("", False),
        ('signature = "model.sig"\n', False),
        (f'signature = {{ identity = "{ID}", issuer = "{ISS}" }}\n', True),
        ('signature = { public-key = "k.pem" }\n', True),
        ('signature = { certificate-chain = "roots.pem" }\n', True),
        ('signature = { path = "other.sig", public-key = "k.pem" }\n', True),
    ],
)
def test_pinned(tmp_path: Path, signature: str, is_pinned: bool) -> None:
    from modellock.ops.signatures import pinned
    from modellock.project.manifest import load_manifest

    (tmp_path / "modellock.toml").write_text(f'[models.m]\nrepo = "acme/m"\n{signature}')
    assert pinned(load_manifest(tmp_path / "modellock.toml").models["m"]) is is_pinned


@pytest.mark.parametrize(
    ("pin", "previous", "discarded", "accept", "expected"),
    [
        (True, "mallory", False, False, "pinned"),  # a pin: the record has no say, even a different one
        (True, None, True, False, "pinned"),
        (False, None, False, False, "first-use"),
        (False, None, True, False, "re-established"),
        (False, "alice", False, False, "recorded"),
        (False, "mallory", False, True, "accepted"),
        (False, "mallory", False, False, "refused"),
    ],
)
def test_trust_reason(
    tmp_path: Path, pin: bool, previous: str | None, discarded: bool, accept: bool, expected: str
) -> None:
    from modellock.ops.signatures import _trust_reason
    from modellock.project.lockfile import LockedModel, LockedSignature
    from modellock.project.manifest import load_manifest
    from modellock.signing.bundle import Attestation
    from modellock.signing.oms import SignatureInvalid

    pin_text = f'signature = {{ identity = "alice", issuer = "{ISS}" }}\n' if pin else ""
    (tmp_path / "modellock.toml").write_text(f'[models.m]\nrepo = "acme/m"\n{pin_text}')
    spec = load_manifest(tmp_path / "modellock.toml").models["m"]
    old = None
    if previous is not None:
        record = LockedSignature("model.sig", 1, "0" * 64, "0" * 64, "sigstore", previous, ISS)
        old = LockedModel("m", "huggingface", "acme/m", "model", "models/m", "main", "0" * 40, "", (), signature=record)
    attestation = Attestation("sigstore", "alice", ISS, "", None, None, "t", b"")
    if expected == "refused":
        with pytest.raises(SignatureInvalid, match="but the lock records mallory"):
            _trust_reason(spec, old, attestation, discarded, accept_new_signer=accept)
    else:
        assert _trust_reason(spec, old, attestation, discarded, accept_new_signer=accept) == expected


def _certificate_signed(project: Path, hub: FakeHub) -> None:
    from tests.sigstore_fake import statement
    from tests.test_signatures import _certificate_bundle

    bundle, root_pem = _certificate_bundle(statement(FILES))
    hub.repo("acme/certsigned").commit({**FILES, "model.sig": json.dumps(bundle).encode()})
    (project / "roots.pem").write_bytes(root_pem)


def test_add_of_a_certificate_signed_model_says_how_to_pin_the_roots(project: Path, hub: FakeHub) -> None:
    _certificate_signed(project, hub)
    assert_refused(project, ("add", "acme/certsigned"), "signed with a certificate chain", "--certificate-chain")
    run = cli("add", "acme/certsigned", "--certificate-chain", "roots.pem")
    assert run.exit_code == 0, run.stderr
    assert "Verified signature of certsigned: certificate, CN=release signer (pinned in the manifest)" in run.stdout
    assert "roots.pem" in (project / "modellock.toml").read_text()


def test_sync_refuses_a_chain_that_leads_to_another_root_than_the_locked_one(project: Path, hub: FakeHub) -> None:
    """The root a certificate chain led to at lock is recorded (`key`) and proved again at sync."""
    from dataclasses import replace

    from modellock.ops.project import write_lock
    from modellock.project.lockfile import Lockfile

    _certificate_signed(project, hub)
    assert cli("add", "acme/certsigned", "--certificate-chain", "roots.pem").exit_code == 0
    lock = project / "modellock.lock"
    m = read_lock(lock).get("certsigned")  # type: ignore[union-attr]
    assert m is not None and m.signature is not None and m.signature.key.startswith("sha256:")
    forged = replace(m.signature, key="sha256:" + "0" * 64)
    write_lock(lock, Lockfile((replace(m, signature=forged),)))  # resealed
    assert cli("lock", "--check").exit_code == 0
    assert_refused(project, ("sync",), "the chain leads to a different root than the one locked")
    assert not (project / "models").exists()


@pytest.mark.parametrize(
    ("pin", "record", "needle"),
    [
        ('{ public-key = "signer.pem" }', ("key", "same-key"), None),
        ('{ public-key = "signer.pem" }', ("key", "other-key"), "another public key than the manifest's"),
        ('{ public-key = "signer.pem" }', ("sigstore", ""), "a sigstore-mode signature, the manifest asks for key"),
        ('{ certificate-chain = "roots.pem" }', ("key", "same-key"), "a key-mode signature, the manifest asks for"),
        (f'{{ identity = "{ID}", issuer = "{ISS}" }}', ("sigstore", ""), None),
        ('{ identity = "bob", issuer = "x" }', ("sigstore", ""), "the manifest pins bob (x)"),
    ],
)
def test_the_lock_signature_record_against_the_manifest_pin(
    tmp_path: Path, pin: str, record: tuple[str, str], needle: str | None
) -> None:
    import base64

    from modellock.ops.check import manifest_differences
    from modellock.project.lockfile import LockedModel, LockedSignature
    from modellock.project.manifest import load_manifest

    _, public = _key_pair(tmp_path, "signer")
    _, other = _key_pair(tmp_path, "other")

    def der(path: Path) -> str:
        key = serialization.load_pem_public_key(path.read_bytes())
        return base64.b64encode(
            key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        ).decode()

    (tmp_path / "modellock.toml").write_text(f'[models.m]\nrepo = "acme/m"\nsignature = {pin}\n')
    spec = load_manifest(tmp_path / "modellock.toml").models["m"]
    mode, key = record
    public_key = {"same-key": der(public), "other-key": der(other), "": ""}[key]
    signature = LockedSignature("model.sig", 1, "0" * 64, "1" * 64, mode, ID, ISS, public_key=public_key)
    model = LockedModel(
        "m", "huggingface", "acme/m", "model", spec.install_path, "main", "0" * 40, "", (), signature=signature
    )
    found = [p for p in manifest_differences(model, spec, tmp_path) if "signature" in p or "signer" in p or "key" in p]
    if needle is None:
        assert found == []
    else:
        assert len(found) == 1 and needle in found[0], found


def test_a_pin_on_an_unsigned_model_is_refused(project: Path, hub: FakeHub) -> None:
    """A pin promises a signature: `add --public-key` of an unsigned model writes nothing (it left a manifest
    that `lock --check` then refused)."""
    hub.repo("acme/unsigned").commit(FILES)
    _key_pair(project, "signer")
    assert_refused(
        project,
        ("add", "acme/unsigned", "--public-key", "signer.pem"),
        "refusing unsigned: the manifest pins its signer, but the repository has no model.sig",
    )
