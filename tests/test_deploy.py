"""docs/deploy.md's entrypoint, as written there: a fresh store, models from an OCI layout, no network."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import cli
from tests.hub import FakeHub
from tests.test_hf_cache import add_hf_cache_model
from tests.test_lock_e2e import CONFIG

DOC = Path(__file__).resolve().parent.parent / "docs" / "deploy.md"


def entrypoint() -> str:
    text = DOC.read_text()
    block = re.search(r"<!-- entrypoint: begin -->\n```sh\n(.*?)```\n<!-- entrypoint: end -->", text, re.S)
    assert block is not None, "docs/deploy.md lost its entrypoint block"
    return block.group(1)


def without_network() -> list[str]:
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True) if shutil.which("unshare") else None
    return ["unshare", "-n"] if probe is not None and probe.returncode == 0 else []


def test_the_documented_entrypoint_starts_the_server_on_the_locked_bytes(
    project: Path, hub: FakeHub, tmp_path: Path
) -> None:
    commit = add_hf_cache_model(project, hub)
    layout = tmp_path / "models-layout"
    assert cli("export", "--oci-layout", str(layout)).exit_code == 0
    # The image: the manifest and the lock only, a store nobody has filled, and the entrypoint.
    app = tmp_path / "app"
    app.mkdir()
    for name in ("modellock.toml", "modellock.lock"):
        shutil.copy(project / name, app / name)
    script = tmp_path / "entrypoint.sh"
    script.write_text(entrypoint())
    script.chmod(0o755)
    server = app / "server.py"
    server.write_text(
        "import json, os\n"
        "from huggingface_hub import hf_hub_download\n"
        "print(json.dumps({'config': hf_hub_download('acme/tiny', 'config.json'),"
        " 'offline': os.environ.get('HF_HUB_OFFLINE')}))\n"
    )
    bindir = tmp_path / "bin"  # `modellock` on PATH, as `pip install modellock` puts it
    bindir.mkdir()
    (bindir / "modellock").write_text(f'#!/bin/sh\nexec {sys.executable} -m modellock "$@"\n')
    (bindir / "modellock").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "APP_DIR": str(app),
        "MODELS": str(layout),
        "MODELLOCK_CACHE_DIR": str(tmp_path / "image-store"),
        "HF_ENDPOINT": "http://127.0.0.1:9",  # nothing listens: the start must not need the Hub
    }
    hub.requests.clear()
    done = subprocess.run(
        [*without_network(), str(script), sys.executable, str(server)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    snapshot = app / "hf" / "models--acme--tiny" / "snapshots" / commit
    assert Path(out["config"]) == snapshot / "config.json" and out["offline"] == "1"
    assert Path(out["config"]).read_bytes() == CONFIG
    assert hub.requests == []
    ready = subprocess.run(
        [sys.executable, "-m", "modellock", "-p", str(app), "status", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ready.returncode == 0 and json.loads(ready.stdout)["ok"] is True
    # A file changed after the start: readiness fails, and the next start refuses before the server runs.
    blob = (snapshot / "config.json").resolve()
    blob.chmod(0o644)
    blob.write_bytes(b'{"model_type": "evil"}\n')
    ready = subprocess.run(
        [sys.executable, "-m", "modellock", "-p", str(app), "status", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ready.returncode == 1 and json.loads(ready.stdout)["ok"] is False
    again = subprocess.run(
        [sys.executable, "-m", "modellock", "-p", str(app), "run", "--", sys.executable, str(server)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 1 and "modified config.json" in again.stderr and again.stdout == ""
