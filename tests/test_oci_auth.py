"""Registry credentials against a real registry behind htpasswd basic auth; secrets never printed."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from modellock.oci.auth import parse_challenge
from tests.helpers import cli
from tests.registry import LocalRegistry
from tests.test_oci_registry import EXPECTED, fresh_machine, installed, locked  # noqa: F401 - fixture

PASSWORD = "s3cret-pass"


def test_basic_auth_from_the_environment_pushes_and_syncs(
    locked: Path,  # noqa: F811
    auth_registry: LocalRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELLOCK_REGISTRY_USERNAME", "fleet")
    monkeypatch.setenv("MODELLOCK_REGISTRY_PASSWORD", PASSWORD)
    run = cli("push", f"{auth_registry.url}/fleet")
    assert run.exit_code == 0, run.stderr
    fresh_machine(tmp_path, monkeypatch)
    synced = cli("sync", "--frozen", "--registry", f"{auth_registry.url}/fleet")
    assert synced.exit_code == 0, synced.stderr
    assert installed(locked / "models" / "tiny") == EXPECTED


def test_docker_config_json_credentials(
    locked: Path,  # noqa: F811
    auth_registry: LocalRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "docker"
    config.mkdir()
    auth = base64.b64encode(f"fleet:{PASSWORD}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {auth_registry.host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    run = cli("push", f"{auth_registry.url}/fleet")
    assert run.exit_code == 0, run.stderr


def test_a_credential_helper_is_asked(
    locked: Path,  # noqa: F811
    auth_registry: LocalRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-fleettest"
    helper.write_text(f'#!/bin/sh\nread host\necho \'{{"Username":"fleet","Secret":"{PASSWORD}"}}\'\n')
    helper.chmod(0o755)
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"credHelpers": {auth_registry.host: "fleettest"}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    run = cli("push", f"{auth_registry.url}/fleet")
    assert run.exit_code == 0, run.stderr


def test_a_wrong_password_is_a_clean_exit_2_that_never_prints_it(
    locked: Path,  # noqa: F811
    auth_registry: LocalRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELLOCK_REGISTRY_USERNAME", "fleet")
    monkeypatch.setenv("MODELLOCK_REGISTRY_PASSWORD", "wrong-password-xyz")
    run = cli("push", f"{auth_registry.url}/fleet")
    assert run.exit_code == 2
    assert "refused the credentials" in run.stderr and "hint:" in run.stderr
    assert "wrong-password-xyz" not in run.stdout + run.stderr and "Traceback" not in run.stderr
    fresh_machine(tmp_path, monkeypatch)
    sync = cli("sync", "--frozen", "--registry", f"{auth_registry.url}/fleet")
    assert sync.exit_code == 2 and "refused the credentials" in sync.stderr
    assert "wrong-password-xyz" not in sync.stdout + sync.stderr and "Traceback" not in sync.stderr
    assert not (locked / "models").exists()


def test_no_credentials_for_a_registry_that_wants_them(
    locked: Path,  # noqa: F811
    auth_registry: LocalRegistry,
) -> None:
    run = cli("push", f"{auth_registry.url}/fleet")
    assert run.exit_code == 2 and "requires credentials" in run.stderr and "docker login" in run.stderr


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        (
            'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"',
            "bearer",
            {"realm": "https://auth.example/token", "service": "registry.example", "scope": "repository:a/b:pull"},
        ),
        ('Basic realm="x"', "basic", {"realm": "x"}),
        ('bearer realm="https://a/t", scope="repository:x:pull,push"', "bearer",
         {"realm": "https://a/t", "scope": "repository:x:pull,push"}),
    ],
)  # fmt: skip
def test_challenges_parse(header: str, scheme: str, params: dict[str, str]) -> None:
    found = parse_challenge(header)
    assert found is not None and found.scheme == scheme and found.params == params


@pytest.mark.parametrize("header", ["", "Negotiate abc", "Digest realm=x"])
def test_unknown_challenges_are_none(header: str) -> None:
    assert parse_challenge(header) is None


def test_bearer_token_challenge_pushes_and_syncs(
    locked: Path,  # noqa: F811
    token_registry: LocalRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELLOCK_REGISTRY_USERNAME", "fleet")
    monkeypatch.setenv("MODELLOCK_REGISTRY_PASSWORD", PASSWORD)
    run = cli("push", f"{token_registry.url}/fleet")
    assert run.exit_code == 0, run.stderr
    assert token_registry.tokens is not None
    assert "repository:fleet/acme/tiny:pull,push" in token_registry.tokens.issued
    fresh_machine(tmp_path, monkeypatch)
    synced = cli("sync", "--frozen", "--registry", f"{token_registry.url}/fleet")
    assert synced.exit_code == 0, synced.stderr
    assert installed(locked / "models" / "tiny") == EXPECTED
    assert "repository:fleet/acme/tiny:pull" in token_registry.tokens.issued


def test_bearer_token_with_a_wrong_password_is_exit_2(
    locked: Path,  # noqa: F811
    token_registry: LocalRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELLOCK_REGISTRY_USERNAME", "fleet")
    monkeypatch.setenv("MODELLOCK_REGISTRY_PASSWORD", "nope-nope")
    run = cli("push", f"{token_registry.url}/fleet")
    assert run.exit_code == 2 and "refused the credentials" in run.stderr and "nope-nope" not in run.stderr
