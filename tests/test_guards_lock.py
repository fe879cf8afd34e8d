"""The lock checks no other test guarded: each table fails when its check is deleted (mutation-tested).

The lock is hostile input: these are the decisions that keep a hand-made or resealed lock from
installing somewhere else, passing as sealed, or disagreeing with the manifest unnoticed.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from modellock.errors import ConfigError
from modellock.ops.check import manifest_differences
from modellock.project.lockfile import LockedFile, LockedModel, LockedSignature, Lockfile, dumps, render, seal_of
from modellock.project.lockread import loads, loads_checked
from modellock.project.manifest import ModelSpec, SignatureSpec
from modellock.project.paths import ref_problem
from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.test_hub_scan import FILES

FILE = LockedFile("config.json", 2, "1" * 64, "2" * 64)
SIG = LockedSignature("model.sig", 10, "3" * 64, "4" * 64, "sigstore", "release@acme.example", "https://issuer")


def model(**changes: object) -> LockedModel:
    base = LockedModel(
        name="m", source="huggingface", repo="acme/m", repo_type="model", install_path="models/m",
        requested="main", commit="a" * 40, fingerprint="blake3:" + "0" * 64, files=(FILE,),
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


# -- the manifest against the lock: signature mode and public key ---------------------------------------------


def _key_b64(key: ec.EllipticCurvePrivateKey) -> tuple[bytes, str]:
    public = key.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, base64.b64encode(der).decode()


PINNED_PEM, PINNED = _key_b64(ec.generate_private_key(ec.SECP256R1()))
_, OTHER = _key_b64(ec.generate_private_key(ec.SECP256R1()))
KEY_SIG = replace(SIG, mode="key", identity="sha256:x", issuer="", public_key=PINNED)


@pytest.mark.parametrize(
    ("locked", "config", "problem"),
    [
        (KEY_SIG, SignatureSpec(public_key="signer.pem"), None),
        (replace(KEY_SIG, public_key=OTHER), SignatureSpec(public_key="signer.pem"), "another public key"),
        (replace(KEY_SIG, public_key=""), SignatureSpec(public_key="signer.pem"), "another public key"),
        (SIG, SignatureSpec(public_key="signer.pem"), "a sigstore-mode signature, the manifest asks for key"),
        (KEY_SIG, SignatureSpec(identity="release@acme.example"), "a key-mode signature, the manifest asks for sig"),
        (replace(SIG, mode="certificate"), SignatureSpec(), "a certificate-mode signature, the manifest asks"),
        (SIG, SignatureSpec(certificate_chain="roots.pem"), "a sigstore-mode signature, the manifest asks for cert"),
        (SIG, SignatureSpec(identity="release@acme.example", issuer="https://issuer"), None),
        (SIG, SignatureSpec(identity="other@acme.example", issuer="https://issuer"), "the manifest pins other@"),
    ],
)
def test_the_lock_signature_record_must_be_what_the_manifest_configures(
    tmp_path: Path, locked: LockedSignature, config: SignatureSpec, problem: str | None
) -> None:
    (tmp_path / "signer.pem").write_bytes(PINNED_PEM)
    spec = ModelSpec(name="m", repo="acme/m", install_path="models/m", signature=config)
    found = manifest_differences(model(signature=locked), spec, tmp_path)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0], found


# -- seals: a version-1 lock has none, whatever its text says ------------------------------------------------


@pytest.mark.parametrize(
    ("version", "seal", "sealed"),
    [
        (2, "computed", True),
        (2, "blake3:" + "0" * 64, False),
        (2, "", False),
        # Version 1 predates seals: a `seal` line in one (even the right one for its text) proves nothing,
        # or a lock relabelled `version = 1` would pass as sealed with a seal anyone can compute.
        (1, "computed", False),
        (1, "", False),
    ],
)
def test_only_a_version_2_entry_with_its_own_seal_counts_as_sealed(version: int, seal: str, sealed: bool) -> None:
    entry = model()
    entry = replace(entry, seal=seal_of(entry, version) if seal == "computed" else seal)
    _, unsealed = render(Lockfile((entry,), version=version), as_read=True)
    assert (unsealed == ()) is sealed


def test_a_lock_relabelled_version_1_is_unsealed_at_lock_check(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/m").commit(FILES)
    (project / "modellock.toml").write_text('[models.m]\nrepo = "acme/m"\n')
    assert cli("lock").exit_code == 0
    lock = project / "modellock.lock"
    read = loads_checked(lock.read_text())
    entry = read.lock.models[0]
    lock.write_text(render(Lockfile((replace(entry, seal=seal_of(entry, 1)),), version=1), as_read=True)[0])
    before = snapshot(project)
    run = cli("lock", "--check")
    assert run.exit_code == 1 and "m: it has no seal (written by modellock before version 2)" in run.stderr, run.stderr
    assert snapshot(project) == before


# -- fields of the lock that become paths or refs -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ("model.sig", False),
        ("signatures/model.sig", False),
        ("../model.sig", True),
        ("/etc/passwd", True),
        ("a/../../b", True),
        ("a//b", True),
        (".modellock-x", True),
    ],
)
def test_the_lock_signature_path_is_validated_on_read(path: str, refused: bool) -> None:
    text = dumps(Lockfile((model(signature=replace(SIG, path=path)),)))
    if not refused:
        assert loads(text).models[0].signature.path == path  # type: ignore[union-attr]
        return
    with pytest.raises(ConfigError) as caught:
        loads(text)
    assert "`signature`: unknown mode or unsafe path" in caught.value.message
    assert caught.value.message.startswith("modellock.lock:")


@pytest.mark.parametrize("canonical", [True, False])
def test_a_file_listed_twice_is_refused(canonical: bool) -> None:
    twice = LockedFile("config.json", 3, "5" * 64, "6" * 64)
    text = dumps(Lockfile((model(files=(FILE, twice)),)))
    assert text.count('path = "config.json"') == 2
    if not canonical:  # the slow reader too, not only the fast one
        text = text.replace("files = [", "files  = [")
    with pytest.raises(ConfigError) as caught:
        loads(text)
    assert "model `m` lists the same file twice" in caught.value.message


@pytest.mark.parametrize(
    ("ref", "refused"),
    [
        ("main", False),
        ("v1.0", False),
        ("release/2.1", False),
        ("refs/pr/3", False),
        ("a..b", True),  # `..` inside a component: git refuses it, and so must we
        ("v1..", True),
        ("..", True),
        ("main/../x", True),
        ("x@{1}", True),
        ("x.", True),
        (".hidden", True),
        ("a.lock", True),
        ("@", True),
        ("a b", True),
        ("", True),
    ],
)
def test_ref_names_follow_git_rules(ref: str, refused: bool) -> None:
    assert (ref_problem(ref) is not None) is refused


def test_a_requested_ref_with_dots_is_refused_in_the_lock(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/m").commit(FILES)
    (project / "modellock.toml").write_text('[models.m]\nrepo = "acme/m"\n')
    assert cli("lock").exit_code == 0
    lock = project / "modellock.lock"
    entry = loads(lock.read_text()).models[0]
    lock.write_text(dumps(Lockfile((replace(entry, requested="ma..in"),))))  # sealed as modellock would
    before = snapshot(project)
    for args in (("lock", "--check"), ("sync", "--frozen")):
        run = cli(*args)
        assert run.exit_code == 2, run.stderr
        assert "modellock.lock:13: model #1: `requested` 'ma..in' is refused: a ref name has no `..`" in run.stderr
        assert snapshot(project) == before


# -- install paths: `lock --check` reports overlaps the manifest could not have ------------------------------


def test_overlapping_install_paths_in_the_lock_fail_lock_check(project: Path, hub: FakeHub) -> None:
    hub.repo("acme/m").commit(FILES)
    (project / "modellock.toml").write_text('[models.m]\nrepo = "acme/m"\n')
    assert cli("lock").exit_code == 0
    lock = project / "modellock.lock"
    entry = loads(lock.read_text()).models[0]
    inner = replace(entry, name="n", install_path=f"{entry.install_path}/inner")
    lock.write_text(dumps(Lockfile((entry, inner))))  # sealed: only the cross-checks can find it
    before = snapshot(project)
    run = cli("lock", "--check")
    assert run.exit_code == 1, run.stderr
    inner_path = f"{entry.install_path}/inner"
    assert f"n: cannot be installed: its path '{inner_path}' is inside the path of model `m`" in run.stderr
    assert snapshot(project) == before
