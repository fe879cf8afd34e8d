"""A signature whose signed statement is malformed is refused with a reason, never an internal error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.samples import weights
from tests.sigstore_fake import sign_with_key, statement

FILES = {"config.json": b'{"a": 1}\n', "model.safetensors": weights(b"\x07" * 64)}


def _edit(path: list[str], value: Any) -> bytes:
    data = json.loads(statement(FILES))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    "payload",
    [
        _edit(["predicate"], "not a table"),
        _edit(["predicate", "resources"], {"config.json": "x"}),
        _edit(["predicate", "resources"], [1, 2]),
        _edit(["predicate", "resources"], 5),
        _edit(["predicate", "serialization"], ["files"]),
        _edit(["subject"], "model"),
        b"[1, 2, 3]",
        b"\xff not json",
    ],
    ids=[
        "predicate-str",
        "resources-dict",
        "resources-ints",
        "resources-int",
        "serialization-list",
        "subject-str",
        "statement-list",
        "not-json",
    ],
)
def test_malformed_statement(project: Path, hub: FakeHub, payload: bytes) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (project / "signer.pem").write_bytes(pem)
    hub.repo("acme/signed").commit({**FILES, "model.sig": json.dumps(sign_with_key(payload, key)).encode()})
    manifest = '[models.m]\nrepo = "acme/signed"\nsignature = { public-key = "signer.pem" }\n'
    (project / "modellock.toml").write_text(manifest)
    before = snapshot(project)
    run = cli("lock")
    assert run.exit_code == 1, run.stderr
    assert "internal error" not in run.stderr
    assert "model.sig" in run.stderr
    assert snapshot(project) == before
