"""Fixtures: a local Hub for the real huggingface_hub client, and an isolated project directory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# huggingface_hub reads these at import time: set them before anything imports it.
os.environ.update(
    {
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_HOME": tempfile.mkdtemp(prefix="modellock-hf-home-"),
        "MODELLOCK_HTTP_BACKOFF": "0.05",
        "DOCKER_CONFIG": tempfile.mkdtemp(prefix="modellock-docker-config-"),  # no registry credentials of the host
    }
)
for leaked in (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_ENDPOINT",
    "HF_HUB_OFFLINE",
    "MODELLOCK_CACHE_DIR",
    "MODELLOCK_REGISTRY",
    "MODELLOCK_REGISTRY_USERNAME",
    "MODELLOCK_REGISTRY_PASSWORD",
):
    os.environ.pop(leaked, None)

from tests.hub import FakeHub  # noqa: E402
from tests.registry import LocalRegistry  # noqa: E402
from tests.sigstore_fake import FakeSigstore  # noqa: E402


@pytest.fixture(scope="session")
def _hub_server() -> Iterator[FakeHub]:
    hub = FakeHub()
    yield hub
    hub.close()


@pytest.fixture
def hub(_hub_server: FakeHub) -> Iterator[FakeHub]:
    """A Hub with no repositories and no faults; the servers are shared, the state is per test."""
    _hub_server.repos.clear()
    _hub_server.requests.clear()
    _hub_server.auth.clear()
    _hub_server.ranges.clear()
    _hub_server.served.clear()
    from tests.hub.server import Faults

    _hub_server.faults = Faults()
    _hub_server.page_size = 1000
    yield _hub_server


@pytest.fixture
def project(tmp_path: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory whose manifest will point at the local Hub and a private store."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.setenv("MODELLOCK_CACHE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.chdir(root)
    return root


@pytest.fixture(scope="session")
def sigstore() -> FakeSigstore:
    """A test-only Sigstore instance (own Fulcio CA, Rekor and CT keys), one per session."""
    return FakeSigstore.create()


@pytest.fixture
def registry() -> Iterator[LocalRegistry]:
    """A real OCI registry (Debian's docker-registry) on 127.0.0.1, anonymous, fresh storage per test."""
    from tests.registry import BINARY, SKIP_REASON, LocalRegistry

    if BINARY is None:
        pytest.skip(SKIP_REASON)
    server = LocalRegistry()
    yield server
    server.close()


@pytest.fixture
def auth_registry() -> Iterator[LocalRegistry]:
    """The same registry behind htpasswd basic auth: user `fleet`, password `s3cret-pass`."""
    from tests.registry import BINARY, SKIP_REASON, LocalRegistry

    if BINARY is None:
        pytest.skip(SKIP_REASON)
    server = LocalRegistry(users={"fleet": "s3cret-pass"})
    yield server
    server.close()


@pytest.fixture
def token_registry() -> Iterator[LocalRegistry]:
    """The registry in token mode: a Bearer challenge, tokens from a local token server (user `fleet`)."""
    from tests.registry import BINARY, SKIP_REASON, LocalRegistry

    if BINARY is None:
        pytest.skip(SKIP_REASON)
    server = LocalRegistry(users={"fleet": "s3cret-pass"}, token_ttl=300)
    yield server
    server.close()
