"""The OMS root digest (the statement's subject): recorded at lock, proved at sync, shown and exported.

The signed model here is signed by the reference tool (`model_signing sign key`), published to the local
Hub and added with its key pinned, so the digest modellock shows is checked against the reference's own.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from modellock.errors import ConfigError
from modellock.ops.signatures import refuse_root_mismatch
from modellock.project.lockfile import REVISION, LockedFile, LockedModel, LockedSignature, Lockfile, dumps
from modellock.project.lockread import loads, read_lock
from modellock.signing.oms import SignatureInvalid
from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.test_export import _spdx_valid, _validate
from tests.test_sign import key_pair, make_model, reference, statement_of
from tests.test_sign_locked import FILES


@pytest.fixture
def signed(project: Path, hub: FakeHub, tmp_path: Path) -> str:
    """A model signed by model_signing, locked by `add --public-key`; returns the reference's root digest."""
    private, public = key_pair(tmp_path)
    directory = make_model(tmp_path / "published", FILES)
    sig = tmp_path / "model.sig"
    done = reference("sign", "key", "--private_key", str(private), "--signature", str(sig), str(directory))
    assert done.returncode == 0, done.stderr
    hub.repo("acme/m").commit({**FILES, "model.sig": sig.read_bytes()})
    (project / "signer.pem").write_bytes(public.read_bytes())
    run = cli("add", "acme/m", "--public-key", "signer.pem")
    assert run.exit_code == 0, run.stderr
    return "sha256:" + str(statement_of(sig)["subject"][0]["digest"]["sha256"])


def test_lock_records_the_reference_root_digest_and_show_states_it(project: Path, signed: str) -> None:
    lock = read_lock(project / "modellock.lock")
    assert lock is not None and lock.revision == REVISION
    model = lock.get("m")
    assert model is not None and model.signature is not None and model.signature.root_digest == signed
    assert f'root-digest = "{signed}"' in (project / "modellock.lock").read_text()
    run = cli("show", "m")
    assert run.exit_code == 0 and f"root digest {signed}" in run.stdout
    data = json.loads(cli("show", "m", "--format", "json").stdout)
    assert data["model"]["signature"]["root_digest"] == signed
    assert cli("lock", "--check").exit_code == 0 and cli("sync").exit_code == 0


@pytest.mark.parametrize("version", ["1.6", "1.7"])
def test_cyclonedx_carries_it_beside_the_attestation(project: Path, signed: str, version: str) -> None:
    run = cli("export", "--format", f"cyclonedx{version}")
    assert run.exit_code == 0, run.stderr
    _validate(run.stdout, version)
    [component] = json.loads(run.stdout)["components"]
    props = {p["name"]: p["value"] for p in component["properties"]}
    assert props["modellock:signature.root-digest"] == signed


def test_spdx3_carries_it_with_the_signature(project: Path, signed: str) -> None:
    run = cli("export", "--format", "spdx3")
    assert run.exit_code == 0, run.stderr
    data = _spdx_valid(run.stdout)
    [package] = [e for e in data["@graph"] if e["type"] == "ai_AIPackage"]
    assert f"OMS root digest {signed}" in package["comment"]
    [ref] = [r for r in package["externalRef"] if r["externalRefType"] == "securityOther"]
    assert f"root digest {signed}" in ref["comment"]


def _reseal(project: Path, root_digest: str) -> None:
    """An attacker's edit: another root digest, and the seal recomputed (anyone can)."""
    lock = read_lock(project / "modellock.lock")
    assert lock is not None
    m = lock.get("m")
    assert m is not None and m.signature is not None
    edited = dataclasses.replace(m, signature=dataclasses.replace(m.signature, root_digest=root_digest))
    others = tuple(x for x in lock.models if x.name != "m")
    (project / "modellock.lock").write_text(dumps(dataclasses.replace(lock, models=(*others, edited))))


def test_a_resealed_root_digest_is_refused_at_sync(project: Path, signed: str) -> None:
    _reseal(project, "sha256:" + "ab" * 32)
    assert cli("lock", "--check").exit_code == 0  # whole and sealed: only the bundle can disprove it
    before = snapshot(project / "models")
    run = cli("sync")
    assert run.exit_code == 1
    assert f"the signed statement's subject is {signed}" in run.stderr and "hint:" in run.stderr
    assert snapshot(project / "models") == before
    assert cli("sync", "--frozen").exit_code == 1


def test_verify_refuses_it_after_an_honest_sync(project: Path, signed: str) -> None:
    assert cli("sync").exit_code == 0 and cli("verify").exit_code == 0
    _reseal(project, "sha256:" + "cd" * 32)
    run = cli("verify")
    assert run.exit_code == 1 and "root digest" in run.stdout + run.stderr


def test_a_lock_without_a_root_digest_still_syncs(project: Path, signed: str) -> None:
    """Locks written before revision 5 record none: they stay valid, and show none."""
    _reseal(project, "")
    assert "root-digest" not in (project / "modellock.lock").read_text()
    run = cli("sync")
    assert run.exit_code == 0, run.stderr
    assert "root digest" not in cli("show", "m").stdout


@pytest.mark.parametrize(
    ("recorded", "signed", "refused"),
    [
        ("", "sha256:" + "a" * 64, False),
        ("sha256:" + "a" * 64, "sha256:" + "a" * 64, False),
        ("sha256:" + "b" * 64, "sha256:" + "a" * 64, True),
    ],
)
def test_refuse_root_mismatch(recorded: str, signed: str, refused: bool) -> None:
    if refused:
        with pytest.raises(SignatureInvalid, match="root digest"):
            refuse_root_mismatch(recorded, signed, "m: model.sig")
    else:
        refuse_root_mismatch(recorded, signed, "m: model.sig")


GOOD = "sha256:" + "a" * 64


def _lock_text(root_digest: str) -> str:
    signature = LockedSignature("model.sig", 10, "1" * 64, "2" * 64, "sigstore", "a@b.c", root_digest=root_digest)
    files = (LockedFile("x.json", 3, "3" * 64, "4" * 64),)
    model = LockedModel("m", "huggingface", "acme/m", "model", "models/m", "main", "c" * 40, "blake3:" + "f" * 64,
                        files, signature=signature)  # fmt: skip
    return dumps(Lockfile((model,)))


@pytest.mark.parametrize(
    "value",
    [
        '"' + "a" * 64 + '"',  # no algorithm
        '"sha256:' + "a" * 63 + '"',
        '"sha256:' + "A" * 64 + '"',
        '"blake3:' + "a" * 64 + '"',
        '"sha256:' + "a" * 64 + '\\n"',
        "7",
    ],
)
def test_lockread_refuses_a_malformed_root_digest_with_file_and_line(value: str) -> None:
    text = _lock_text(GOOD).replace(f'"{GOOD}"', value)
    with pytest.raises(ConfigError) as info:
        loads(text, "modellock.lock")
    line = text.splitlines().index(next(x for x in text.splitlines() if x.startswith("signature ="))) + 1
    assert info.value.file == "modellock.lock" and info.value.line == line
    assert "root-digest" in str(info.value)


def test_lockread_reads_a_wellformed_root_digest() -> None:
    lock = loads(_lock_text(GOOD), "modellock.lock")
    m = lock.get("m")
    assert m is not None and m.signature is not None and m.signature.root_digest == GOOD
    old = loads(_lock_text(""), "modellock.lock")
    assert old.get("m").signature.root_digest == ""  # type: ignore[union-attr]


@pytest.mark.parametrize("field", ["blake3", "sha256"])
def test_lockread_refuses_a_signature_digest_with_a_trailing_newline(field: str) -> None:
    """`^…$` with `re.match` lets a "\\n" through; the writer escapes and seals it, so the reader must stop it."""
    good = ("1" if field == "blake3" else "2") * 64
    text = _lock_text(GOOD).replace(f'{field} = "{good}"', f'{field} = "{good}\\n"')
    with pytest.raises(ConfigError, match="blake3 and sha256 must be 64 hex digits"):
        loads(text, "modellock.lock")
