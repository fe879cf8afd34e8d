"""Attacks on the trust work of issues #21 and #24, each as it was found in review: a hostile lock (it
arrives in pull requests, and anyone can recompute its seals), a hostile Hub, hostile signatures."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import blake3
import pytest

from modellock.ops.project import write_lock
from modellock.project.lockfile import Lockfile, content_digest
from modellock.project.lockread import loads, read_lock
from tests.helpers import cli
from tests.hub import FakeHub
from tests.samples import weights
from tests.test_signatures import FILES
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
    assert check.exit_code == 1 and "the lock records the signature at 'model.safetensors'" in check.stdout + check.stderr
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
        LockedFile(p.removesuffix("=bundle"), 1, bundle if p.endswith("=bundle") else "a" * 64, "c" * 64)
        for p in paths
    ]
    assert hidden_by_signature_path(sig_path, bundle, files) == hidden
