"""A hostile registry and a hostile layout on disk (found by an attacker's review of the OCI work)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modellock.oci.manifest import artifact
from modellock.project.lockread import read_lock
from tests.helpers import cli
from tests.hostile_proxy import HANDLED, HostileProxy
from tests.registry import LocalRegistry
from tests.test_oci_registry import fresh_machine, locked, push  # noqa: F401 (fixture)

PASSWORD = "corp-s3cret"
MODELLOCK = str(Path(sys.executable).parent / "modellock")


def _ask_for_basic(request: object, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
    if not getattr(request, "headers").get("Authorization"):  # noqa: B009
        return 401, {"WWW-Authenticate": 'Basic realm="registry"'}, b"{}"
    return None


def test_a_registry_named_by_the_project_gets_no_credentials_from_the_environment(
    locked: Path,  # noqa: F811
    registry: LocalRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`[settings] registry` arrives in pull requests: the CI's registry password must not follow it there."""
    push(registry)
    evil = HostileProxy(_ask_for_basic, upstream=registry.url)
    manifest = locked / "modellock.toml"
    manifest.write_text(manifest.read_text() + f'\n[settings]\nregistry = "{evil.url}/fleet"\n')
    monkeypatch.setenv("MODELLOCK_REGISTRY_USERNAME", "me")
    monkeypatch.setenv("MODELLOCK_REGISTRY_PASSWORD", PASSWORD)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    fresh_machine(tmp_path, monkeypatch)
    run = cli("sync", "--frozen")
    assert run.exit_code == 2 and "requires credentials and none were found" in run.stderr, run.stderr
    assert evil.basic_credentials_seen() == []
    # Named by the user (flag or MODELLOCK_REGISTRY), the same registry gets them.
    assert cli("sync", "--frozen", "--registry", f"{evil.url}/fleet").exit_code == 0
    assert evil.basic_credentials_seen() and set(evil.basic_credentials_seen()) == {f"me:{PASSWORD}"}
    evil.close()


def test_a_plain_http_token_realm_off_this_machine_gets_nothing(
    locked: Path,  # noqa: F811
    registry: LocalRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    push(registry)

    def challenge(request: object, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        if getattr(request, "path") == "/v2/":  # noqa: B009
            # A non-routable address: the password would cross a network in the clear.
            return 401, {"WWW-Authenticate": 'Bearer realm="http://10.255.255.1:9/token",service="x"'}, b"{}"
        return None

    evil = HostileProxy(challenge, upstream=registry.url)
    monkeypatch.setenv("MODELLOCK_REGISTRY_USERNAME", "fleet")
    monkeypatch.setenv("MODELLOCK_REGISTRY_PASSWORD", PASSWORD)
    fresh_machine(tmp_path, monkeypatch)
    started = time.monotonic()
    run = cli("sync", "--frozen", "--registry", f"{evil.url}/fleet")
    assert run.exit_code == 2 and "http:// realm on 10.255.255.1:9" in run.stderr, run.stderr
    assert "hint: a token realm must be https" in run.stderr and PASSWORD not in run.stderr
    assert time.monotonic() - started < 5  # refused before any connection was tried
    evil.close()


def test_an_endless_ping_body_is_not_read(
    locked: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent = []

    def ping(request: object, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        handler = request
        handler.send_response(200)  # type: ignore[attr-defined]
        handler.send_header("Content-Length", str(1 << 40))  # type: ignore[attr-defined]
        handler.end_headers()  # type: ignore[attr-defined]
        block = b"\0" * (1 << 20)
        try:
            for _ in range(1 << 16):
                handler.wfile.write(block)  # type: ignore[attr-defined]
                sent.append(len(block))
        except OSError:
            pass
        return HANDLED

    evil = HostileProxy(ping)
    fresh_machine(tmp_path, monkeypatch)
    run = cli("sync", "--frozen", "--registry", f"{evil.url}/fleet")
    assert run.exit_code == 2 and "internal error" not in run.stderr
    time.sleep(0.2)
    # Each answer is read to a cap (1 MiB, or 4 MiB for a manifest), then its connection is closed: what
    # got out beyond that is what the sockets buffer.
    per_request = sum(sent) / len(evil.requests)
    assert per_request < 16 << 20, (sum(sent), len(evil.requests))
    evil.close()


def _export(root: Path) -> None:
    run = cli("export", "--oci-layout", str(root))
    assert run.exit_code == 0, run.stderr


@pytest.mark.parametrize("which", ["manifest", "weights"])
def test_a_fifo_in_a_layout_is_refused_not_waited_for(
    which: str,
    locked: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "layout"
    _export(root)
    lock = read_lock(locked / "modellock.lock")
    assert lock is not None
    model = lock.models[0]
    digest = artifact(model).digest.split(":")[1] if which == "manifest" else model.files[1].sha256
    blob = root / "blobs" / "sha256" / digest
    blob.unlink()
    os.mkfifo(blob)
    fresh_machine(tmp_path, monkeypatch)
    done = subprocess.run(
        [MODELLOCK, "sync", "--frozen", "--from-oci-layout", str(root)],
        cwd=locked,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1 and "not a regular file" in done.stderr, done.stderr
    assert not (locked / "models" / "tiny").exists()


def test_a_layout_marker_that_is_a_device_is_refused(
    locked: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "layout"
    _export(root)
    index = (root / "index.json").read_bytes()
    (root / "index.json").unlink()
    (root / "index.json").symlink_to("/dev/zero")
    run = cli("export", "--oci-layout", str(root))
    assert run.exit_code != 0 and "index.json is not readable JSON" in run.stderr, run.stderr
    (root / "index.json").unlink()
    (root / "index.json").write_bytes(index)
    (root / "oci-layout").unlink()
    (root / "oci-layout").symlink_to("/dev/zero")
    fresh_machine(tmp_path, monkeypatch)
    run = cli("sync", "--frozen", "--from-oci-layout", str(root))
    assert run.exit_code == 1 and "is not an OCI image layout" in run.stderr, run.stderr


def test_symlinked_layout_directories_are_never_read_or_written_through(
    locked: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fresh = tmp_path / "fresh-layout"
    victim = tmp_path / "victim-dir"
    victim.mkdir()
    (fresh / "blobs").mkdir(parents=True)
    (fresh / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (fresh / "blobs" / "sha256").symlink_to(victim)
    run = cli("export", "--oci-layout", str(fresh))
    assert run.exit_code == 2 and "is a symlink" in run.stderr, run.stderr
    assert list(victim.iterdir()) == []

    root = tmp_path / "layout"
    _export(root)
    elsewhere = tmp_path / "elsewhere"
    (root / "blobs" / "sha256").rename(elsewhere)
    (root / "blobs" / "sha256").symlink_to(elsewhere)
    fresh_machine(tmp_path, monkeypatch)
    run = cli("sync", "--frozen", "--from-oci-layout", str(root))
    assert run.exit_code == 1 and "is a symlink" in run.stderr, run.stderr
