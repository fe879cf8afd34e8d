"""Interop: an artifact `modellock push` wrote, pulled by oras-py (a test-only peer) from the real registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import cli
from tests.registry import LocalRegistry
from tests.test_oci_registry import EXPECTED, locked  # noqa: F401 - fixture

oras_client = pytest.importorskip("oras.client", reason="oras-py is not installed (pip install -e '.[test]')")


def test_oras_pulls_what_modellock_pushed(locked: Path, registry: LocalRegistry, tmp_path: Path) -> None:  # noqa: F811
    assert cli("push", f"{registry.url}/fleet").exit_code == 0
    from modellock.project.lockread import read_lock

    lock = read_lock(locked / "modellock.lock")
    assert lock is not None
    client = oras_client.OrasClient(hostname=registry.host, insecure=True)
    out = tmp_path / "oras"
    client.pull(target=f"{registry.host}/fleet/acme/tiny:{lock.models[0].commit}", outdir=str(out))
    pulled = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert pulled == EXPECTED
