"""Output into a pipe whose reader left (`modellock scan DIR | head`): the command ends quietly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path, fmt: str) -> None:
    for i in range(2000):  # far more output than a pipe buffers, so writes meet the closed end
        (tmp_path / f"file{i:04}.txt").write_text("x")
    process = subprocess.Popen(
        [sys.executable, "-m", "modellock", "scan", str(tmp_path), "--format", fmt],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()  # what `head -1` reads before it exits
    process.stdout.close()
    stderr = process.stderr.read().decode()
    code = process.wait(timeout=120)
    assert first
    assert stderr == "", stderr  # no "internal error", no "Exception ignored ... BrokenPipeError"
    assert code == 141  # 128 + SIGPIPE, what a shell reports for `yes | head`


def test_a_pipe_read_to_the_end_is_untouched(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    run = subprocess.run([sys.executable, "-m", "modellock", "scan", str(tmp_path)], capture_output=True, timeout=120)
    assert run.returncode == 0 and b"a.txt" in run.stdout and run.stderr == b""
