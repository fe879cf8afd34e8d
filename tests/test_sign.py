"""`modellock sign` of a directory: the bundle bytes, OMS conformance, and the reference verifier's verdict.

Interop is with the real `model_signing` CLI (sigstore/model-transparency 1.x) run as its own process.
Locked models are signed in tests/test_sign_locked.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from modellock.signing.bundle import Signer
from modellock.signing.dirverify import verify_directory
from modellock.signing.oms import SignatureInvalid
from tests.helpers import cli, snapshot
from tests.test_oms_vectors import schema_verdict

MODEL_SIGNING = Path(sys.executable).parent / "model_signing"
KEYS = Path(__file__).parent / "data" / "oms-vectors" / "keys"
MODEL = {
    "config.json": b'{"model_type": "bert"}\n',
    "weights/model-00001.safetensors": b"\x01" * 700,
    "weights/model-00002.safetensors": b"\x02" * 300,
    "tokenizer.json": b"{}",
    "empty.txt": b"",
    ".git/HEAD": b"ref: refs/heads/main\n",
    ".gitattributes": b"*.safetensors filter=lfs\n",
    "logs/run.txt": b"not part of the model\n",
}


def make_model(root: Path, files: dict[str, bytes] = MODEL) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def key_pair(directory: Path, curve: ec.EllipticCurve = ec.SECP256R1()) -> tuple[Path, Path]:
    key = ec.generate_private_key(curve)
    private, public = directory / f"{curve.name}.key", directory / f"{curve.name}.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))  # fmt: skip
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


def reference(*args: str) -> subprocess.CompletedProcess[str]:
    """The reference verifier, `model_signing`, as its own process."""
    return subprocess.run([str(MODEL_SIGNING), *args], capture_output=True, text=True, timeout=300)


def statement_of(bundle_path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(base64.b64decode(json.loads(bundle_path.read_bytes())["dsseEnvelope"]["payload"]))


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()], ids=lambda c: c.name)
def test_key_mode_is_accepted_by_the_reference_verifier(tmp_path: Path, curve: ec.EllipticCurve) -> None:
    model = make_model(tmp_path / "model")
    private, public = key_pair(tmp_path, curve)
    run = cli("sign", str(model), "--key", str(private), "--ignore-path", "logs")
    assert run.exit_code == 0, run.stderr
    sig = model / "model.sig"
    assert f"{model} -> {sig}" in run.stdout
    done = reference("verify", "key", "--signature", str(sig), "--public_key", str(public), str(model))
    assert done.returncode == 0, done.stderr + done.stdout
    attestation, coverage = verify_directory(
        sig.read_bytes(), Signer("key", public_key=public.read_bytes()), None, model
    )
    assert coverage.covered == 5 and attestation.mode == "key"
    assert schema_verdict(sig.read_bytes())

    # One byte changed after signing: both verifiers refuse.
    data = bytearray((model / "weights/model-00002.safetensors").read_bytes())
    data[10] ^= 1
    (model / "weights/model-00002.safetensors").write_bytes(bytes(data))
    done = reference("verify", "key", "--signature", str(sig), "--public_key", str(public), str(model))
    assert done.returncode != 0 and "model-00002" in done.stdout + done.stderr
    with pytest.raises(SignatureInvalid, match=r"model-00002\.safetensors: sha256 digest differs"):
        verify_directory(sig.read_bytes(), Signer("key", public_key=public.read_bytes()), None, model)


def test_the_statement_as_the_spec_defines_it(tmp_path: Path) -> None:
    model = make_model(tmp_path / "my-model")
    private, _ = key_pair(tmp_path)
    assert cli("sign", str(model), "--key", str(private), "--ignore-path", "./logs/").exit_code == 0
    bundle = json.loads((model / "model.sig").read_bytes())
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    key = serialization.load_pem_private_key(private.read_bytes(), None).public_key()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert bundle["verificationMaterial"] == {"publicKey": {"hint": hashlib.sha256(pem).hexdigest()}, "tlogEntries": []}
    assert bundle["dsseEnvelope"]["signatures"][0]["keyid"] == ""
    statement = statement_of(model / "model.sig")
    resources = statement["predicate"]["resources"]
    names = [r["name"] for r in resources]
    # Sorted by code point; .git and .gitattributes (defaults), logs (asked) and model.sig excluded;
    # the empty file is a file like any other in `files` mode.
    assert names == ["config.json", "empty.txt", "tokenizer.json",
                     "weights/model-00001.safetensors", "weights/model-00002.safetensors"]  # fmt: skip
    assert all(r["algorithm"] == "sha256" for r in resources)
    assert resources[0]["digest"] == hashlib.sha256(MODEL["config.json"]).hexdigest()
    root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
    assert statement["subject"] == [{"name": "my-model", "digest": {"sha256": root}}]
    assert statement["predicate"]["serialization"] == {
        "method": "files", "hash_type": "sha256", "allow_symlinks": False,
        "ignore_paths": [".git", ".gitattributes", ".github", ".gitignore", "logs", "model.sig"],
    }  # fmt: skip


def test_shards_omit_empty_files_and_cover_every_byte(tmp_path: Path) -> None:
    model = make_model(tmp_path / "model")
    private, public = key_pair(tmp_path)
    run = cli("sign", str(model), "--key", str(private), "--serialization", "shards", "--shard-size", "256",
              "--ignore-path", "logs")  # fmt: skip
    assert run.exit_code == 0, run.stderr
    assert "shard serialization cannot sign empty files: empty.txt" in run.stderr
    statement = statement_of(model / "model.sig")
    names = [r["name"] for r in statement["predicate"]["resources"]]
    assert "empty.txt:0:0" not in names and not any(n.startswith("empty.txt") for n in names)
    assert [n for n in names if n.startswith("weights/model-00001")] == [
        "weights/model-00001.safetensors:0:256", "weights/model-00001.safetensors:256:512",
        "weights/model-00001.safetensors:512:700",
    ]  # fmt: skip
    assert statement["predicate"]["serialization"]["shard_size"] == 256
    assert {r["algorithm"] for r in statement["predicate"]["resources"]} == {"sha256"}  # OMS §6.3.2: the hash type
    assert schema_verdict((model / "model.sig").read_bytes())
    _, coverage = verify_directory((model / "model.sig").read_bytes(), Signer("key", public_key=public.read_bytes()),
                                   None, model)  # fmt: skip
    assert coverage.unsigned_empty == ("empty.txt",)


def test_blake3_files(tmp_path: Path) -> None:
    import blake3

    model = make_model(tmp_path / "model", {"a.bin": b"abc"})
    private, public = key_pair(tmp_path)
    assert cli("sign", str(model), "--key", str(private), "--hash", "blake3").exit_code == 0
    statement = statement_of(model / "model.sig")
    assert statement["predicate"]["resources"] == [
        {"name": "a.bin", "algorithm": "blake3", "digest": blake3.blake3(b"abc").hexdigest()}
    ]
    root = hashlib.sha256(blake3.blake3(b"abc").digest()).hexdigest()  # the root is SHA-256 whatever the hash
    assert statement["subject"][0]["digest"] == {"sha256": root}
    verify_directory((model / "model.sig").read_bytes(), Signer("key", public_key=public.read_bytes()), None, model)
    done = reference("verify", "key", "--signature", str(model / "model.sig"), "--public_key", str(public), str(model))
    # model_signing's CLI always re-hashes with SHA-256 files serialization, whatever the bundle says.
    assert done.returncode != 0


def test_certificate_mode_is_accepted_by_the_reference_verifier(tmp_path: Path) -> None:
    model = make_model(tmp_path / "model")
    sig = tmp_path / "out" / "model.sig"
    run = cli("sign", str(model), "--key", str(KEYS / "signing-key.pem"), "--certificate",
              str(KEYS / "signing-key-cert.pem"), "--chain", str(KEYS / "int-ca-cert.pem"), "--signature", str(sig),
              "--ignore-path", "logs")  # fmt: skip
    assert run.exit_code == 0, run.stderr
    chain = json.loads(sig.read_bytes())["verificationMaterial"]["x509CertificateChain"]["certificates"]
    assert len(chain) == 2  # leaf, intermediate: the root is the verifier's to have
    done = reference("verify", "certificate", "--signature", str(sig), "--certificate_chain",
                     str(KEYS / "ca-cert.pem"), "--ignore-paths", str(model / "logs"), str(model))  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    roots = (KEYS / "ca-cert.pem").read_bytes()
    attestation, _ = verify_directory(sig.read_bytes(), Signer("certificate", roots=roots), None, model,
                                      signature_name="none")  # fmt: skip
    assert attestation.issuer == "CN=root-ca"
    assert schema_verdict(sig.read_bytes())


def test_modellock_verifies_what_the_reference_signs(tmp_path: Path) -> None:
    model = make_model(tmp_path / "model")
    private, public = key_pair(tmp_path)
    sig = tmp_path / "ref.sig"
    done = reference("sign", "key", "--private_key", str(private), "--signature", str(sig), str(model))
    assert done.returncode == 0, done.stderr
    _, coverage = verify_directory(sig.read_bytes(), Signer("key", public_key=public.read_bytes()), None, model)
    assert coverage.covered == 6  # every file but .git and .gitattributes
    # Both tools describe the same directory identically: the same resources, so the same root digest.
    assert cli("sign", str(model), "--key", str(private), "--signature", str(tmp_path / "ours.sig")).exit_code == 0
    theirs, ours = statement_of(sig), statement_of(tmp_path / "ours.sig")
    assert ours["subject"][0]["digest"] == theirs["subject"][0]["digest"]
    assert ours["predicate"]["resources"] == [
        {"name": r["name"], "algorithm": r["algorithm"], "digest": r["digest"]}
        for r in theirs["predicate"]["resources"]
    ]
    sig = tmp_path / "ref-cert.sig"
    done = reference("sign", "certificate", "--private_key", str(KEYS / "signing-key.pem"),
                     "--signing_certificate", str(KEYS / "signing-key-cert.pem"),
                     "--certificate_chain", str(KEYS / "int-ca-cert.pem"),
                     "--signature", str(sig), str(model))  # fmt: skip
    assert done.returncode == 0, done.stderr
    verify_directory(sig.read_bytes(), Signer("certificate", roots=(KEYS / "ca-cert.pem").read_bytes()), None, model)


def test_reference_shard_bundles(tmp_path: Path) -> None:
    """model_signing 1.x names a shard's algorithm `sha256-sharded-N` and writes shard_size as a float; both are
    read. (Its own verifier then fails on that float: its shard mode does not verify its own output.)"""
    import model_signing

    model = make_model(tmp_path / "model", {"a.bin": b"x" * 1000, "b.bin": b"y" * 10, "empty": b""})
    private, public = key_pair(tmp_path)
    config = model_signing.signing.Config().use_elliptic_key_signer(private_key=str(private))
    config.set_hashing_config(model_signing.hashing.Config().use_shard_serialization(shard_size=300))
    config.sign(str(model), str(tmp_path / "shard.sig"))
    statement = statement_of(tmp_path / "shard.sig")
    assert statement["predicate"]["resources"][0]["algorithm"] == "sha256-sharded-300"
    _, coverage = verify_directory((tmp_path / "shard.sig").read_bytes(), Signer("key", public_key=public.read_bytes()),
                                   None, model)  # fmt: skip
    assert coverage.covered == 2 and coverage.unsigned_empty == ("empty",)


def test_spec_form_shards_against_the_reference_library(tmp_path: Path) -> None:
    """The reference verifier cannot read OMS §6.3.2 shard resources (algorithm = hash_type): it compares the
    algorithm name too, expecting `sha256-sharded-N`. The digests agree; only the name differs."""
    import model_signing

    model = make_model(tmp_path / "model", {"a.bin": b"x" * 1000})
    private, public = key_pair(tmp_path)
    assert (
        cli("sign", str(model), "--key", str(private), "--serialization", "shards", "--shard-size", "300").exit_code
        == 0
    )
    verifier = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=str(public))
    with pytest.raises(
        ValueError, match=r"Expected 'Digest\(algorithm='sha256'.*Actual 'Digest\(algorithm='sha256-sharded-300'"
    ):
        verifier.verify(str(model), str(model / "model.sig"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--key", "missing.pem"), "cannot read the private key missing.pem"),
        (("--key", "rsa.pem"), "a RSAPrivateKey key; OMS key and certificate signatures use EC P-256, P-384 or P-521"),
        (("--key", "not-a-key.pem"), "not a PEM private key"),
        (("--key", "p256.key", "--ignore-path", "../etc"), "must name something inside the model"),
        (("--key", "p256.key", "--ignore-path", "*.bin"), "no glob characters"),
        (("--key", "p256.key", "--serialization", "chunks"), "unknown serialization 'chunks'"),
        (("--key", "p256.key", "--hash", "md5"), "unknown hash 'md5'"),
        (("--certificate", "cert.pem"), "--certificate needs its private key"),
        (("--key", "p256.key", "--chain", "c.pem"), "--chain goes with --certificate"),
        (
            ("--key", "p256.key", "--certificate", str(KEYS / "signing-key-cert.pem")),
            "the certificate is not for the key",
        ),
    ],
)
def test_bad_keys_and_options_are_exit_2_and_write_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            args: tuple[str, ...], message: str) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    make_model(tmp_path / "model")
    private, _ = key_pair(tmp_path)
    private.rename(tmp_path / "p256.key")
    (tmp_path / "not-a-key.pem").write_text("hello")
    (tmp_path / "rsa.pem").write_bytes(
        rsa.generate_private_key(65537, 2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    before = snapshot(tmp_path)
    run = cli("sign", "model", *args)
    assert run.exit_code == 2, run.stderr
    assert message in run.stderr and "error:" in run.stderr
    assert snapshot(tmp_path) == before


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    model = make_model(tmp_path / "model", {"a.bin": b"abc"})
    private, _ = key_pair(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (model / "model.sig").symlink_to(victim)
    run = cli("sign", str(model), "--key", str(private))
    assert run.exit_code == 2 and "is a symbolic link; refusing to write the signature through it" in run.stderr
    assert victim.read_text() == "keep me" and (model / "model.sig").is_symlink()
    (model / "model.sig").unlink()
    (model / "link.bin").symlink_to(victim)
    run = cli("sign", str(model), "--key", str(private))
    assert run.exit_code == 2 and "link.bin is a symbolic link" in run.stderr and "--ignore-path link.bin" in run.stderr
    assert not (model / "model.sig").exists()


def test_an_empty_model_is_refused(tmp_path: Path) -> None:
    model = make_model(tmp_path / "model", {".git/HEAD": b"x"})
    private, _ = key_pair(tmp_path)
    run = cli("sign", str(model), "--key", str(private))
    assert run.exit_code == 2 and "holds no file to sign" in run.stderr


def test_keyless_without_a_token_says_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("ACTIONS_ID_TOKEN", "GITHUB_ACTIONS", "SIGSTORE_ID_TOKEN", "GOOGLE_")):
            monkeypatch.delenv(name)
    model = make_model(tmp_path / "model", {"a.bin": b"abc"})
    run = cli("sign", str(model))
    assert run.exit_code == 2, run.stderr
    assert "needs an OIDC identity token" in run.stderr and "--identity-token" in run.stderr
    assert not (model / "model.sig").exists()


def test_an_existing_signature_is_replaced_atomically(tmp_path: Path) -> None:
    model = make_model(tmp_path / "model", {"a.bin": b"abc"})
    private, public = key_pair(tmp_path)
    (model / "model.sig").write_text("old")
    inode = os.stat(model / "model.sig").st_ino
    assert cli("sign", str(model), "--key", str(private)).exit_code == 0
    assert os.stat(model / "model.sig").st_ino != inode  # a new file renamed into place, not rewritten in place
    verify_directory((model / "model.sig").read_bytes(), Signer("key", public_key=public.read_bytes()), None, model)
    assert [p.name for p in model.iterdir() if p.name.startswith(".modellock-tmp")] == []


def test_a_name_modellock_would_refuse_to_install_is_not_signed(tmp_path: Path) -> None:
    model = make_model(tmp_path / "model", {"a.bin": b"abc", "C:evil": b"x"})
    private, _ = key_pair(tmp_path)
    run = cli("sign", str(model), "--key", str(private))
    assert run.exit_code == 2 and "C:evil cannot be signed: the path is absolute" in run.stderr
    assert cli("sign", str(model), "--key", str(private), "--ignore-path", "C:evil").exit_code == 0


def test_keyless_signing_against_the_test_sigstore_instance(tmp_path: Path, sigstore: object) -> None:
    """sigstore-python's own signer against a loopback Fulcio and Rekor (tests/sigstore_service.py): the bundle
    carries a certificate for the token's identity and a log entry, and verifies against that instance's root."""
    from modellock.signing.trust import load_trust_root
    from tests.sigstore_fake import FakeSigstore
    from tests.sigstore_service import identity_token, serve

    assert isinstance(sigstore, FakeSigstore)
    model = make_model(tmp_path / "model")
    with serve(sigstore) as config:
        (tmp_path / "trust-config.json").write_text(json.dumps(config))
        (tmp_path / "trusted_root.json").write_text(json.dumps(config["trustedRoot"]))
        run = cli("sign", str(model), "--identity-token", identity_token("release@example.com"),
                  "--trust-config", str(tmp_path / "trust-config.json"), "--ignore-path", "logs")  # fmt: skip
    assert run.exit_code == 0, run.stderr
    raw = (model / "model.sig").read_bytes()
    material = json.loads(raw)["verificationMaterial"]
    assert "certificate" in material and len(material["tlogEntries"]) == 1
    assert schema_verdict(raw)
    root, _ = load_trust_root(tmp_path / "trusted_root.json", online=False)
    attestation, coverage = verify_directory(raw, Signer("sigstore", "release@example.com", "https://oidc.test.invalid"),
                                             root, model)  # fmt: skip
    assert (attestation.identity, attestation.issuer, coverage.covered) == (
        "release@example.com", "https://oidc.test.invalid", 5)  # fmt: skip
    with pytest.raises(SignatureInvalid, match="but the policy requires 'someone@else'"):
        verify_directory(raw, Signer("sigstore", "someone@else"), root, model)


def test_an_encrypted_key_needs_its_password(tmp_path: Path) -> None:
    model = make_model(tmp_path / "model", {"a.bin": b"abc"})
    key = ec.generate_private_key(ec.SECP384R1())
    encrypted = tmp_path / "enc.pem"
    encrypted.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.BestAvailableEncryption(b"s3cret")))  # fmt: skip
    run = cli("sign", str(model), "--key", str(encrypted))
    assert run.exit_code == 2 and "the private key is encrypted" in run.stderr and "--password-file" in run.stderr
    (tmp_path / "wrong").write_text("nope\n")
    run = cli("sign", str(model), "--key", str(encrypted), "--password-file", str(tmp_path / "wrong"))
    assert run.exit_code == 2 and "the password is wrong" in run.stderr and "s3cret" not in run.stderr
    # A password "file" that never ends is read to a bound, not into memory.
    run = cli("sign", str(model), "--key", str(encrypted), "--password-file", "/dev/zero")
    assert run.exit_code == 2 and "larger than 1 MiB" in run.stderr and "hint:" in run.stderr
    (tmp_path / "pw").write_text("s3cret\n")
    assert cli("sign", str(model), "--key", str(encrypted), "--password-file", str(tmp_path / "pw")).exit_code == 0
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    verify_directory((model / "model.sig").read_bytes(), Signer("key", public_key=public), None, model)
