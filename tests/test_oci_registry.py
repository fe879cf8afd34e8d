"""`push` to and `sync` from a real OCI registry (Debian's docker-registry on 127.0.0.1)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from modellock.oci.manifest import artifact
from modellock.project.lockread import read_lock
from tests.helpers import cli, snapshot
from tests.hub import FakeHub
from tests.registry import LocalRegistry
from tests.test_lock_e2e import CONFIG, WEIGHTS, make_tiny

EXPECTED = {"config.json": CONFIG, "model.safetensors": WEIGHTS, "sub/dir/extra.json": b"{}"}


def closed_endpoint() -> str:
    """An address where nothing listens: the Hub, unreachable."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def installed(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(root).items() if not k.startswith(".modellock")}


@pytest.fixture
def locked(project: Path, hub: FakeHub) -> Path:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    return project


def fresh_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str = "fresh-store") -> None:
    """An empty store and no Hub: every byte must come from the registry (or the layout)."""
    monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(tmp_path / name))
    monkeypatch.setenv("HF_ENDPOINT", closed_endpoint())


def push(registry: LocalRegistry, *extra: str) -> dict[str, object]:
    run = cli("push", f"{registry.url}/fleet", "--format", "json", *extra)
    assert run.exit_code == 0, run.stderr
    return json.loads(run.stdout)  # type: ignore[no-any-return]


def test_push_then_sync_on_a_fresh_machine_with_the_hub_unreachable(
    locked: Path, registry: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli("push", f"{registry.url}/fleet")
    assert run.exit_code == 0, run.stderr
    assert f" + tiny -> {registry.host}/fleet/acme/tiny@sha256:" in run.stdout and "3 uploaded" in run.stdout
    fresh_machine(tmp_path, monkeypatch)
    synced = cli("sync", "--locked", "--registry", f"{registry.url}/fleet")
    assert synced.exit_code == 0, synced.stderr
    assert installed(locked / "models" / "tiny") == EXPECTED
    assert cli("verify").exit_code == 0


def test_registry_from_the_environment_and_from_settings(
    locked: Path, registry: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    push(registry)
    fresh_machine(tmp_path, monkeypatch)
    monkeypatch.setenv("MODELLOCK_REGISTRY", f"{registry.url}/fleet")
    assert cli("sync", "--frozen").exit_code == 0
    assert installed(locked / "models" / "tiny") == EXPECTED
    monkeypatch.delenv("MODELLOCK_REGISTRY")
    fresh_machine(tmp_path, monkeypatch, "third-store")
    (locked / "models").rename(locked / "gone")
    manifest = locked / "modellock.toml"
    manifest.write_text(manifest.read_text() + f'\n[settings]\nregistry = "{registry.url}/fleet"\n')
    run = cli("sync", "--locked")
    assert run.exit_code == 0, run.stderr
    assert installed(locked / "models" / "tiny") == EXPECTED
    # The registry's address is location, never identity: the lock does not name it.
    assert registry.host not in (locked / "modellock.lock").read_text()


def test_pushing_twice_uploads_nothing_the_second_time(locked: Path, registry: LocalRegistry) -> None:
    first = push(registry)
    again = push(registry)
    (one,), (two,) = first["models"], again["models"]  # type: ignore[misc]
    assert one["uploaded"] == 3 and two["uploaded"] == 0 and two["uploaded_bytes"] == 0 and two["skipped"] == 3
    assert one["digest"] == two["digest"]


def test_two_stores_push_the_same_manifest_digest(
    locked: Path, registry: LocalRegistry, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = push(registry)
    monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(tmp_path / "second-store"))
    assert cli("sync", "--reinstall").exit_code == 0  # the second store fills from the Hub
    second = cli("push", f"{registry.url}/other", "--format", "json")
    assert second.exit_code == 0, second.stderr
    d1 = first["models"][0]["digest"]  # type: ignore[index]
    d2 = json.loads(second.stdout)["models"][0]["digest"]
    lock = read_lock(locked / "modellock.lock")
    assert lock is not None
    assert d1 == d2 == artifact(lock.models[0]).digest


def test_a_registry_serving_a_wrong_blob_is_refused_and_nothing_is_installed(
    locked: Path, registry: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    push(registry)
    lock = read_lock(locked / "modellock.lock")
    assert lock is not None
    weights = next(f for f in lock.models[0].files if f.path == "model.safetensors")
    stored = registry.blob_file(f"sha256:{weights.sha256}")
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    stored.write_bytes(bytes(data))
    fresh_machine(tmp_path, monkeypatch)
    run = cli("sync", "--locked", "--registry", f"{registry.url}/fleet")
    assert run.exit_code == 1
    assert "mismatch" in run.stderr and "model.safetensors" in run.stderr and "Traceback" not in run.stderr
    assert not (locked / "models").exists()


def test_a_model_the_registry_lacks_comes_from_the_hub(
    locked: Path, registry: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(tmp_path / "fresh-store"))  # the Hub stays reachable
    run = cli("sync", "--locked", "--registry", f"{registry.url}/fleet")
    assert run.exit_code == 0, run.stderr
    assert installed(locked / "models" / "tiny") == EXPECTED


def test_a_store_blob_that_no_longer_matches_is_not_pushed(
    locked: Path, registry: LocalRegistry, tmp_path: Path
) -> None:
    lock = read_lock(locked / "modellock.lock")
    assert lock is not None
    weights = next(f for f in lock.models[0].files if f.path == "model.safetensors")
    blob = next(p for p in (tmp_path / "store").rglob(weights.blake3) if p.is_file())
    blob.chmod(0o644)
    blob.write_bytes(b"x" * weights.size)
    run = cli("push", f"{registry.url}/fleet")
    assert run.exit_code == 1 and "model.safetensors is not in the store" in run.stderr
    assert not (registry.root / "docker/registry/v2/repositories/fleet/acme/tiny/_manifests").exists()
    assert cli("push", f"{registry.url}/fleet", "--model", "nope").exit_code == 2


@pytest.mark.parametrize(
    "address",
    ["registry.example/ns", "oci://", "http://10.1.2.3:5000/ns", "oci://host/UPPER", "ftp://host/ns"],
)
def test_bad_registry_addresses_are_usage_errors(locked: Path, address: str) -> None:
    run = cli("push", address)
    assert run.exit_code == 2, run.stdout
    assert "error:" in run.stderr and "hint:" in run.stderr and "Traceback" not in run.stderr


def test_an_unreachable_registry_is_a_clean_error(
    locked: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli("push", closed_endpoint() + "/fleet")
    assert run.exit_code == 2 and "cannot reach the registry" in run.stderr


def test_a_registry_missing_a_blob_of_a_manifest_it_holds_says_so(
    locked: Path, registry: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    push(registry)
    lock = read_lock(locked / "modellock.lock")
    assert lock is not None
    weights = next(f for f in lock.models[0].files if f.path == "model.safetensors")
    registry.blob_file(f"sha256:{weights.sha256}").unlink()
    fresh_machine(tmp_path, monkeypatch)
    run = cli("sync", "--locked", "--registry", f"{registry.url}/fleet")
    assert run.exit_code == 2, run.stderr
    assert "holds the manifest of tiny but not the blob of model.safetensors" in run.stderr
    assert "hint:" in run.stderr and not (locked / "models").exists()


def test_a_blob_another_repository_holds_is_mounted_not_uploaded(
    project: Path, hub: FakeHub, registry: LocalRegistry
) -> None:
    make_tiny(hub, "acme/tiny")
    make_tiny(hub, "other/copy")  # the same bytes under another repository
    assert cli("add", "acme/tiny").exit_code == 0
    assert cli("add", "other/copy").exit_code == 0
    result = push(registry)
    first, second = result["models"]  # type: ignore[misc]  # in lock order: the first uploads, the second mounts
    assert first["uploaded"] == 3 and second["uploaded"] == 0 and second["mounted"] == 3


def test_tag_ref_also_tags_the_requested_ref(locked: Path, registry: LocalRegistry) -> None:
    import httpx2

    result = push(registry, "--tag-ref")
    (model,) = result["models"]  # type: ignore[misc]
    assert model["tags"][1] == "main"
    answer = httpx2.get(
        f"{registry.url}/v2/fleet/acme/tiny/manifests/main",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert answer.status_code == 200 and answer.headers["Docker-Content-Digest"] == model["digest"]


def test_a_broken_docker_config_does_not_stop_a_sync_that_needs_nothing(
    locked: Path, registry: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text("{not json")
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    assert cli("sync", "--registry", f"{registry.url}/fleet").exit_code == 0  # every blob is in the store
    fresh_machine(tmp_path, monkeypatch)
    (locked / "models").rename(locked / "was")
    run = cli("sync", "--frozen", "--registry", f"{registry.url}/fleet")
    assert run.exit_code == 2 and "cannot read Docker's credentials" in run.stderr and "config.json" in run.stderr


def test_an_empty_file_round_trips(
    project: Path, hub: FakeHub, registry: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {"config.json": CONFIG, "__init__.py": b"", "README.md": b"# hi\n"}
    hub.repo("acme/empty").commit(dict(files))
    assert cli("add", "acme/empty").exit_code == 0
    push(registry)
    fresh_machine(tmp_path, monkeypatch)
    run = cli("sync", "--frozen", "--registry", f"{registry.url}/fleet")
    assert run.exit_code == 0, run.stderr
    assert installed(project / "models" / "empty") == files


def test_a_registry_serving_another_manifest_under_the_digest_is_refused(
    locked: Path, registry: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = push(registry)["models"][0]["digest"]  # type: ignore[index]
    stored = registry.blob_file(str(digest))
    text = stored.read_bytes()
    assert b"sub/dir/extra.json" in text
    stored.write_bytes(text.replace(b"sub/dir/extra.json", b"sub/dir/EXTRA.json"))  # still valid JSON
    fresh_machine(tmp_path, monkeypatch)
    run = cli("sync", "--frozen", "--registry", f"{registry.url}/fleet")
    assert run.exit_code == 1, run.stderr
    assert "with a manifest hashing to" in run.stderr and not (locked / "models").exists()


def test_two_selections_of_one_repository_at_one_commit_are_two_artifacts(
    project: Path, hub: FakeHub, registry: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny", "--name", "configs", "--include", "*.json").exit_code == 0
    assert cli("add", "acme/tiny", "--name", "weights", "--include", "*.safetensors").exit_code == 0
    configs, weights = push(registry)["models"]  # type: ignore[misc]
    assert configs["digest"] != weights["digest"]
    assert configs["tags"][0].endswith("-configs") and weights["tags"][0].endswith("-weights")
    fresh_machine(tmp_path, monkeypatch)
    run = cli("sync", "--frozen", "--registry", f"{registry.url}/fleet")
    assert run.exit_code == 0, run.stderr
    assert installed(project / "models" / "configs") == {"config.json": CONFIG, "sub/dir/extra.json": b"{}"}
    assert installed(project / "models" / "weights") == {"model.safetensors": WEIGHTS}
