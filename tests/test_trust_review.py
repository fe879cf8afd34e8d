"""Attacks on the trust work of issues #21 and #24, each as it was found in review: a hostile lock (it
arrives in pull requests, and anyone can recompute its seals), a hostile Hub, hostile signatures."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import blake3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from modellock.ops.project import write_lock
from modellock.project.lockfile import LockedSignature, Lockfile, content_digest
from modellock.project.lockread import loads, read_lock
from modellock.project.manifest import load_manifest
from modellock.signing.statement import Serialization, Signed, build_statement
from tests.helpers import cli
from tests.hub import FakeHub
from tests.samples import weights
from tests.sigstore_fake import sign_with_key, statement
from tests.test_signatures import FILES, signed  # noqa: F401  (fixture)
from tests.test_signer_pins import key_signed  # noqa: F401  (fixture)

EVIL = weights(b"\x66" * 4096)


def _forge(lock_path: Path, name: str, **changes: object) -> None:
    """Rewrite one model entry and reseal the lock, as anyone who can open a pull request can."""
    lock = loads(lock_path.read_text())
    models = []
    for m in lock.models:
        if m.name == name:
            m = replace(m, **changes)  # type: ignore[arg-type]
            m = replace(m, digest=content_digest(m.files))
        models.append(m)
    write_lock(lock_path, Lockfile(tuple(models)))


def _pr_with_evil_weights(hub: FakeHub, repo_id: str) -> str:
    """A pull request on the model repository (anyone may open one): main's files, other weights."""
    repo = hub.repos[("model", repo_id)]
    main = repo.branches["main"]
    commit = repo.commit({"model.safetensors": EVIL}, branch=None, parent=main, keep=True)
    repo.prs[1] = commit
    return commit


def test_a_signature_record_naming_a_locked_file_does_not_hide_it_from_the_signature(
    key_signed: Path,  # noqa: F811
    hub: FakeHub,
) -> None:
    """The lock's signature `path` is ignored by the coverage check: naming the weights there left them unsigned.

    With the bundle already in the store (any earlier sync), a lock moved to a PR commit with other
    weights and `signature.path = "model.safetensors"` was installed under the pinned key.
    """
    project = key_signed
    (project / "modellock.toml").write_text(
        '[models.keysigned]\nrepo = "acme/keysigned"\nsignature = { public-key = "signer.pem" }\n'
    )
    assert cli("lock").exit_code == 0
    assert cli("sync").exit_code == 0
    commit = _pr_with_evil_weights(hub, "acme/keysigned")
    lock_path = project / "modellock.lock"
    model = read_lock(lock_path).get("keysigned")  # type: ignore[union-attr]
    assert model is not None and model.signature is not None
    files = tuple(
        replace(f, blake3=blake3.blake3(EVIL).hexdigest(), sha256=hashlib.sha256(EVIL).hexdigest(), size=len(EVIL))
        if f.path == "model.safetensors"
        else f
        for f in model.files
        if f.path != "model.sig"  # locked too (the manifest selects every file); uncovered once not ignored
    )
    _forge(lock_path, "keysigned", commit=commit, files=files,
           signature=replace(model.signature, path="model.safetensors"))  # fmt: skip
    check = cli("lock", "--check")
    assert check.exit_code == 1
    assert "the lock records the signature at 'model.safetensors'" in check.stdout + check.stderr
    run = cli("sync", "--frozen")  # the lock is the policy: its own record must not hide a file
    assert run.exit_code == 1 and "names locked files that are not the signature: model.safetensors" in run.stderr
    assert (project / "models" / "keysigned" / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    run = cli("sync")  # with the manifest: the lock disagrees with it, so it is re-locked from the Hub
    assert run.exit_code == 0, run.stderr
    assert (project / "models" / "keysigned" / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    assert read_lock(lock_path).get("keysigned").signature.path == "model.sig"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("sig_path", "paths", "hidden"),
    [
        ("model.sig", ["model.sig=bundle", "w.safetensors"], []),  # the bundle itself, locked: same bytes
        ("model.sig", ["w.safetensors"], []),
        ("model.sig", ["model.sig", "w.safetensors"], ["model.sig"]),  # the same name, other bytes
        ("w.safetensors", ["w.safetensors", "config.json"], ["w.safetensors"]),
        ("sub", ["sub/w.safetensors", "subway.json"], ["sub/w.safetensors"]),
        ("model.sig", ["model.sig/x"], ["model.sig/x"]),
    ],
)
def test_hidden_by_signature_path(sig_path: str, paths: list[str], hidden: list[str]) -> None:
    from modellock.ops.signatures import hidden_by_signature_path
    from modellock.project.lockfile import LockedFile

    bundle = "b" * 64
    files = [
        LockedFile(p.removesuffix("=bundle"), 1, bundle if p.endswith("=bundle") else "a" * 64, "c" * 64) for p in paths
    ]
    assert hidden_by_signature_path(sig_path, bundle, files) == hidden


def test_a_key_mode_record_without_a_pinned_key_is_not_the_manifests(
    signed: Path,  # noqa: F811
    hub: FakeHub,
) -> None:
    """`lock` never trusts a key-signed bundle on first use; a resealed lock that turned a Sigstore record into
    a key record (the attacker's key, their bundle over their weights in a PR commit) was installed by sync."""
    project = signed
    assert cli("lock").exit_code == 0 and cli("sync").exit_code == 0
    attacker = ec.generate_private_key(ec.SECP256R1())
    evil_files = {**FILES, "model.safetensors": EVIL}
    bundle = json.dumps(sign_with_key(statement(evil_files), attacker)).encode()
    repo = hub.repos[("model", "acme/signed")]
    commit = repo.commit({**evil_files, "model.sig": bundle}, branch=None, parent=repo.branches["main"])
    repo.prs[1] = commit
    lock_path = project / "modellock.lock"
    model = read_lock(lock_path).get("m")  # type: ignore[union-attr]
    assert model is not None and model.signature is not None and model.signature.mode == "sigstore"
    data = {**evil_files, "model.sig": bundle}
    files = tuple(replace(f, size=len(data[f.path]), blake3=blake3.blake3(data[f.path]).hexdigest(),
                          sha256=hashlib.sha256(data[f.path]).hexdigest()) for f in model.files)  # fmt: skip
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = attacker.public_key().public_bytes(serialization.Encoding.DER, spki)
    fingerprint = "sha256:" + hashlib.sha256(der).hexdigest()
    record = LockedSignature("model.sig", len(bundle), blake3.blake3(bundle).hexdigest(),
                             hashlib.sha256(bundle).hexdigest(), "key", fingerprint, key=fingerprint,
                             public_key=base64.b64encode(der).decode(), covers=2)  # fmt: skip
    _forge(lock_path, "m", commit=commit, files=files, signature=record)
    check = cli("lock", "--check")
    assert check.exit_code == 1 and "key-mode signature, and the manifest pins no public key" in check.stderr
    run = cli("sync")  # re-locked from the Hub's main, as the manifest says
    assert (project / "models" / "m" / "model.safetensors").read_bytes() == FILES["model.safetensors"], run.stdout
    assert read_lock(lock_path).get("m").signature.mode == "sigstore"  # type: ignore[union-attr]


def _repo_with_pr(hub: FakeHub, commits: int = 1) -> tuple[str, str]:
    repo = hub.repo("acme/m")
    first = repo.commit({"config.json": b"{}", "model.safetensors": weights(b"\x01" * 64)})
    for i in range(commits - 1):
        repo.commit({"notes.md": b"%d" % i}, keep=True)
    pr = repo.commit({"model.safetensors": EVIL}, branch=None, parent=repo.branches["main"], keep=True)
    repo.prs[1] = pr
    return first, pr


def _manifest(project: Path, revision: str) -> None:
    (project / "modellock.toml").write_text(f'[models.m]\nrepo = "acme/m"\nrevision = "{revision}"\n')


def test_a_history_that_never_ends_fails_closed(project: Path, hub: FakeHub) -> None:
    """A Hub whose commit listing links back to itself held `lock` (48,000 requests in 30 s, no end) while it
    looked for a hash on the branches; `lock --check --remote` the same."""
    first, pr = _repo_with_pr(hub)
    _manifest(project, first)
    assert cli("lock").exit_code == 0
    hub.faults.history_loop = True
    _manifest(project, pr)
    fingerprint = load_manifest(project / "modellock.toml").models["m"].fingerprint()
    _forge(project / "modellock.lock", "m", requested=pr, commit=pr, fingerprint=fingerprint)
    for args in (("lock", "--upgrade"), ("lock", "--check", "--remote")):
        hub.requests.clear()
        before = (project / "modellock.lock").read_text()
        run = cli(*args)
        assert run.exit_code in (1, 2) and "lists commit" in run.stderr and "twice" in run.stderr, (args, run.stderr)
        assert (project / "modellock.lock").read_text() == before
        assert len([r for r in hub.requests if "/commits/" in r[1]]) < 100


def test_a_history_longer_than_the_bound_fails_closed(
    project: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modellock.sources.huggingface as hf

    monkeypatch.setattr(hf, "MAX_HISTORY", 5)
    hub.page_size = 2
    _, pr = _repo_with_pr(hub, commits=12)
    _manifest(project, pr)
    run = cli("lock")
    assert run.exit_code == 2 and "has more than 5 commits; not searched further" in run.stderr, run.stderr
    assert not (project / "modellock.lock").exists()
    monkeypatch.setattr(hf, "MAX_HISTORY", 100)
    run = cli("lock")  # within the bound: the pull request is named, as before
    assert run.exit_code == 1 and "only in refs/pr/1" in run.stderr, run.stderr


def test_a_lock_whose_commit_is_not_the_manifests_hash_is_refused_offline(project: Path, hub: FakeHub) -> None:
    """The manifest names a published commit by hash; a resealed lock keeps `requested` and moves `commit` to
    a pull request's. `lock --check` passed, `lock` kept it (sticky) and `sync` installed the PR's weights."""
    first, pr = _repo_with_pr(hub)
    _manifest(project, first)
    assert cli("lock").exit_code == 0
    lock_path = project / "modellock.lock"
    good = lock_path.read_text()
    model = read_lock(lock_path).get("m")  # type: ignore[union-attr]
    assert model is not None
    files = tuple(replace(f, blake3=blake3.blake3(EVIL).hexdigest(), sha256=hashlib.sha256(EVIL).hexdigest(),
                          size=len(EVIL)) if f.path == "model.safetensors" else f for f in model.files)  # fmt: skip
    _forge(lock_path, "m", commit=pr, files=files)
    run = cli("lock", "--check")
    assert run.exit_code == 1 and f"requested commit {first[:7]} is not the locked {pr[:7]}" in run.stderr, run.stderr
    run = cli("sync", "--frozen")  # no manifest: still the lock's own contradiction
    assert run.exit_code == 1 and not (project / "models" / "m").exists(), run.stdout
    run = cli("lock")  # the entry is not believed: re-resolved from the manifest's hash
    assert run.exit_code == 0 and lock_path.read_text() == good, run.stderr


@pytest.mark.parametrize(
    ("requested", "commit", "problem"),
    [
        ("a" * 40, "a" * 40, False),
        ("a" * 40, "b" * 40, True),
        ("main", "b" * 40, False),
        ("refs/pr/1", "b" * 40, False),
        ("v1", "b" * 40, False),
    ],
)
def test_requested_commit_problem(requested: str, commit: str, problem: bool) -> None:
    from modellock.ops.reach import requested_commit_problem

    assert (requested_commit_problem(requested, commit) is not None) == problem


@pytest.mark.parametrize("spell", [lambda c: c[:7], lambda c: c[:12], lambda c: c[:7].upper()])
def test_a_short_hash_of_a_pull_request_commit_is_refused(project: Path, hub: FakeHub, spell) -> None:  # type: ignore[no-untyped-def]
    """The Hub resolves unique hash prefixes: `revision = "<7 hex of a PR commit>"` was locked without the
    branch-or-tag check that a full hash gets; and a short hash of a published commit failed `--remote`."""
    first, pr = _repo_with_pr(hub)
    revision = spell(pr)
    if not hub.repos[("model", "acme/m")].resolve(revision):
        pytest.skip("the emulator resolves lower-case prefixes only")
    _manifest(project, revision)
    run = cli("lock")
    assert run.exit_code == 1 and "only in refs/pr/1" in run.stderr, run.stderr
    assert not (project / "modellock.lock").exists()
    _manifest(project, spell(first))  # a published commit by short hash: locked, and proved
    assert cli("lock").exit_code == 0
    run = cli("lock", "--check", "--remote")
    assert run.exit_code == 0, run.stderr
    _manifest(project, revision)
    fingerprint = load_manifest(project / "modellock.toml").models["m"].fingerprint()
    _forge(project / "modellock.lock", "m", requested=revision, commit=pr, fingerprint=fingerprint)
    run = cli("lock", "--check", "--remote")
    assert run.exit_code == 1 and "only in refs/pr/1" in run.stderr, run.stderr


@pytest.mark.parametrize(
    ("revision", "branches", "tags", "expected"),
    [
        ("a" * 40, {}, {}, True),
        ("abcdef1", {}, {}, True),
        ("ABCDEF1", {}, {}, True),
        ("abcdef1", {"abcdef1": "x"}, {}, False),  # a branch spelled in hex is a name
        ("abcdef1", {}, {"abcdef1": "x"}, False),
        ("abcdef2", {}, {}, False),  # not a prefix of the commit
        ("main", {"main": "x"}, {}, False),
        ("abc", {}, {}, False),  # too short to be a hash
    ],
)
def test_by_hash(revision: str, branches: dict[str, str], tags: dict[str, str], expected: bool) -> None:
    from modellock.ops.reach import by_hash
    from modellock.sources.interface import Refs

    commit = "abcdef1" + "0" * 33
    if revision == "a" * 40:
        commit = revision
    assert by_hash(revision, commit, Refs(branches=branches, tags=tags, pull_requests={})) is expected


@pytest.mark.parametrize("link", ["signatures", "signatures/m"])
def test_sign_never_writes_through_a_symlinked_signatures_directory(
    project: Path, hub: FakeHub, tmp_path: Path, link: str
) -> None:
    """A checkout can carry `signatures -> ~/somewhere` (git commits symlinks): `sign NAME` wrote
    model.sig (and swept temporary-looking files) in the directory the link names."""
    from tests.test_sign import key_pair

    _repo_with_pr(hub)
    _manifest(project, "main")
    assert cli("lock").exit_code == 0
    private, _ = key_pair(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / link).parent.mkdir(parents=True, exist_ok=True)
    (project / link).symlink_to(outside, target_is_directory=True)
    run = cli("sign", "m", "--key", str(private))
    assert run.exit_code == 2 and "symbolic link" in run.stderr, run.stderr
    assert list(outside.rglob("*")) == []


@pytest.mark.parametrize("flags", [("--serialization", "shards", "--shard-size", "1000"), ("--hash", "blake2b")])
def test_sign_hashes_only_bytes_that_are_the_locks(
    project: Path, hub: FakeHub, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    """Shards and BLAKE2b are hashed from the store's blob after a stat-only check: a same-size edit with
    its mtime put back (or one landing between check and hash) was signed as if it were the locked file."""
    from modellock.store.blobs import Store
    from tests.test_sign import key_pair

    _repo_with_pr(hub)
    _manifest(project, "main")
    assert cli("lock").exit_code == 0
    private, _ = key_pair(tmp_path)
    model = read_lock(project / "modellock.lock").get("m")  # type: ignore[union-attr]
    assert model is not None
    f = next(f for f in model.files if f.path == "model.safetensors")
    blob = Store(tmp_path / "store").blob_path(f.blake3)
    st = blob.stat()
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns))
    blob.chmod(st.st_mode & 0o777)
    run = cli("sign", "m", "--key", str(private), *flags)
    assert run.exit_code == 1 and "no longer match the lock" in run.stderr, run.stdout + run.stderr
    assert not (project / "signatures").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--key", "/dev/zero"), "larger than 1 MiB, so not a key"),
        (("--key", "key.pem", "--password-file", "pw.txt"), "the private key is not encrypted, but a password"),
        (("--key", "enc.pem"), "the private key is encrypted"),
        (("--key", "enc.pem", "--password-file", "bad.txt"), "not a PEM private key, or the password is wrong"),
        (("--key", "key.pem", "--certificate", "/dev/zero"), "larger than 1 MiB"),
    ],
)
def test_hostile_key_files_are_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    """`/dev/zero` as a key was `internal error: MemoryError`; a password for a plain key said it was encrypted."""
    key = ec.generate_private_key(ec.SECP256R1())
    plain = serialization.NoEncryption()
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, plain)
    )
    encrypted = serialization.BestAvailableEncryption(b"pw")
    (tmp_path / "enc.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encrypted)
    )
    (tmp_path / "pw.txt").write_bytes(b"pw\n")
    (tmp_path / "bad.txt").write_bytes(b"nope\n")
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_bytes(b"{}")
    monkeypatch.chdir(tmp_path)
    run = cli("sign", "model", *args)
    assert run.exit_code == 2 and message in run.stderr and "internal error" not in run.stderr, run.stderr
    assert not (model / "model.sig").exists()


def test_a_manifest_key_path_naming_dev_zero_is_a_config_error(key_signed: Path) -> None:  # noqa: F811
    (key_signed / "modellock.toml").write_text(
        '[models.keysigned]\nrepo = "acme/keysigned"\nsignature = { public-key = "/dev/zero" }\n'
    )
    run = cli("lock")
    assert run.exit_code == 2 and "larger than 1 MiB" in run.stderr and "internal error" not in run.stderr, run.stderr


@pytest.mark.parametrize("digest", [None, "", "x", 1, [], ["sha256"], {"sha256": 1}, {}])
def test_a_subject_digest_of_the_wrong_shape_is_a_signature_refusal(digest: object) -> None:
    """Found by mutating signed statements: a subject `digest` that is not an object was an internal error."""
    from modellock.signing.oms import PAYLOAD_TYPE, SignatureInvalid, parse_statement
    from modellock.signing.statement import Serialization, Signed, build_statement

    payload, _ = build_statement(
        "m", [Signed("w.bin", "sha256", "ab" * 32)], Serialization("files", "sha256", None, ())
    )
    statement = json.loads(payload)
    statement["subject"][0]["digest"] = digest
    with pytest.raises(SignatureInvalid, match="the subject digest does not match"):
        parse_statement(PAYLOAD_TYPE, json.dumps(statement).encode(), "m: model.sig")


@pytest.mark.parametrize(
    ("algorithm", "start", "end"), [("blake2b", 0, 64 << 20), ("sha256", 1, 40 << 20), ("blake3", 5, (64 << 20) - 3)]
)
def test_signed_ranges_are_hashed_in_pieces(tmp_path: Path, algorithm: str, start: int, end: int) -> None:
    """A shard (1 GB by default) or a BLAKE2b whole file was read into memory at once to verify it."""
    import tracemalloc

    from modellock.ops.signatures import range_digest

    path = tmp_path / "w.bin"
    with open(path, "wb") as f:
        f.truncate(64 << 20)
        f.seek(start)
        f.write(b"modellock")
    data = path.read_bytes()[start:end]
    expected = blake3.blake3(data).hexdigest() if algorithm == "blake3" else hashlib.new(algorithm, data).hexdigest()
    del data
    tracemalloc.start()
    try:
        assert range_digest(path, algorithm, start, end) == expected
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 24 << 20, f"{peak >> 20} MiB held to hash {(end - start) >> 20} MiB"


def _certificate_signed(usage: x509.KeyUsage | None, eku: list[x509.ObjectIdentifier] | None) -> tuple[bytes, bytes]:
    """A bundle signed by a leaf of a pinned root, the leaf carrying `usage` and `eku`; and the root's PEM."""
    from datetime import datetime, timedelta, timezone

    from cryptography.x509.oid import NameOID

    from modellock.signing.sign import CertificateSigner

    now = datetime.now(timezone.utc)
    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vendor root")])
    root = (
        x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name).public_key(root_key.public_key())
        .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )  # fmt: skip
    builder = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tls server")]))
        .issuer_name(root_name).public_key(leaf_key.public_key()).serial_number(7)
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=10))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
    )  # fmt: skip
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    leaf = builder.sign(root_key, hashes.SHA256())
    payload, _ = build_statement(
        "m", [Signed("w.bin", "sha256", "ab" * 32)], Serialization("files", "sha256", None, ())
    )
    bundle = CertificateSigner(leaf_key, (leaf.public_bytes(serialization.Encoding.DER),)).bundle(payload)
    return bundle, root.public_bytes(serialization.Encoding.PEM)


_SIGNING = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
_AGREEMENT = x509.KeyUsage(False, False, False, False, True, False, False, False, False)
_CODE, _SERVER = x509.oid.ExtendedKeyUsageOID.CODE_SIGNING, x509.oid.ExtendedKeyUsageOID.SERVER_AUTH


@pytest.mark.parametrize(
    ("usage", "eku", "accepted"),
    [
        (_SIGNING, None, True),
        (_SIGNING, [_SERVER], True),
        (_AGREEMENT, [_CODE], True),
        (None, [_CODE], True),
        (_AGREEMENT, None, False),  # an ECDH certificate of the same CA
        (_AGREEMENT, [_SERVER], False),
        (None, [_SERVER], False),  # a TLS server certificate of the same CA
        (None, None, False),
    ],
)
def test_a_certificate_signer_must_be_one_for_signing(
    usage: x509.KeyUsage | None, eku: list[x509.ObjectIdentifier] | None, accepted: bool
) -> None:
    """model_signing refuses a leaf with neither KeyUsage digitalSignature nor EKU codeSigning ("cannot be
    used for signing"); modellock accepted any leaf of the pinned root, a TLS server certificate included."""
    from modellock.signing.bundle import Signer, verify_bundle
    from modellock.signing.oms import SignatureInvalid

    bundle, roots = _certificate_signed(usage, eku)
    signer = Signer("certificate", roots=roots)
    if accepted:
        assert verify_bundle(bundle, signer, None, "m: model.sig").mode == "certificate"
    else:
        with pytest.raises(SignatureInvalid, match="not one for signing"):
            verify_bundle(bundle, signer, None, "m: model.sig")
