"""A real OCI registry for the tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1.

Filesystem storage in a temporary directory, optionally behind htpasswd basic auth. Tests that
need it skip, with the reason printed, only where the binary cannot be had.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx2

BINARY = shutil.which("docker-registry") or shutil.which("registry")
SKIP_REASON = "the `docker-registry` binary is not installed (apt-get install docker-registry; .ci/run does)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _htpasswd_line(user: str, password: str) -> str:
    import bcrypt

    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"


class LocalRegistry:
    """One registry process; `root` is its storage, so a test can corrupt a stored blob on disk."""

    def __init__(self, *, users: dict[str, str] | None = None, token_ttl: int | None = None) -> None:
        assert BINARY is not None
        self.dir = Path(tempfile.mkdtemp(prefix="modellock-registry-"))
        self.root = self.dir / "storage"
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        auth = ""
        self.tokens = None
        if token_ttl is not None:
            from tests.token_server import TokenServer

            self.dir.mkdir(exist_ok=True)
            self.tokens = TokenServer(self.dir, users or {}, token_ttl)
            auth = self.tokens.registry_auth()
        elif users:
            htpasswd = self.dir / "htpasswd"
            htpasswd.write_text("".join(_htpasswd_line(u, p) for u, p in users.items()))
            auth = f"auth:\n  htpasswd:\n    realm: modellock-test\n    path: {htpasswd}\n"
        config = self.dir / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.root}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n  secret: modellock-test-secret\n" + auth
        )
        self.log = open(self.dir / "registry.log", "wb")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen([BINARY, "serve", str(config)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx2.get(f"{self.url}/v2/", timeout=1).status_code in (200, 401):
                    break
            except httpx2.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"the registry did not start: {(self.dir / 'registry.log').read_text()[-2000:]}")
            time.sleep(0.05)

    def blob_file(self, digest: str) -> Path:
        """Where distribution keeps a blob's bytes: blobs/sha256/<2>/<hex>/data."""
        hex_ = digest.split(":", 1)[1]
        return self.root / "docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data"

    def wipe(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def close(self) -> None:
        if self.tokens is not None:
            self.tokens.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
