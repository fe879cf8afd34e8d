"""The README's first command that runs modellock works verbatim on a machine with no network."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens, every connection is refused


def first_modellock_command(readme: str) -> str:
    """The first ```sh block after `## Set up` that runs modellock."""
    section = readme.split("## Set up", 1)[1]
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        if ".venv/bin/modellock" in block:
            return block.strip()
    raise AssertionError("the README's Set up section runs no modellock command")


def test_readme_first_command_locks_syncs_and_verifies_the_example_offline(tmp_path: Path) -> None:
    command = first_modellock_command((REPO / "README.md").read_text(encoding="utf-8"))
    assert "examples" in command and "sync" in command and "verify" in command
    work = tmp_path / "checkout"
    shutil.copytree(REPO / "examples", work / "examples", ignore=shutil.ignore_patterns("models", "__pycache__"))
    lock_before = (work / "examples" / "modellock.lock").read_bytes()
    venv_bin = work / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    launcher = venv_bin / "modellock"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m modellock "$@"\n', encoding="utf-8")
    launcher.chmod(0o755)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "PYTHONPATH": str(REPO),
        "HF_ENDPOINT": NOWHERE,
        "HTTP_PROXY": NOWHERE,
        "HTTPS_PROXY": NOWHERE,
        "ALL_PROXY": NOWHERE,
        "AWS_ENDPOINT_URL": NOWHERE,
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    run = subprocess.run(["sh", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "tiny-model: ok" in run.stdout
    installed = work / "examples" / "models" / "tiny-model"
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        assert (installed / name).read_bytes() == (REPO / "examples" / "tiny-model" / name).read_bytes()
    # The committed lock already pins these bytes: the run confirms it and writes nothing new.
    assert (work / "examples" / "modellock.lock").read_bytes() == lock_before
