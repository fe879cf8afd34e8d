"""`lock --check`, `status` and `--help` stay fast: they never import the network or signing stacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import cli
from tests.hub import FakeHub
from tests.test_lock_e2e import make_tiny

PROBE = """
import sys
from modellock.cli.app import main
sys.argv = ["modellock", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in ("huggingface_hub", "sigstore", "httpx2", "tomlkit", "rich") if m in sys.modules)
print("HEAVY:" + ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (("lock", "--check"), ""),
        (("status",), ""),
        (("sync", "--check"), ""),
        (("--help",), ""),
        (("list",), ""),
        (("show", "tiny"), ""),
        (("diff", "modellock.lock", "modellock.lock"), ""),
    ],
)
def test_no_heavy_imports(project: Path, hub: FakeHub, args: tuple[str, ...], allowed: str) -> None:
    make_tiny(hub)
    assert cli("add", "acme/tiny").exit_code == 0
    assert cli("sync").exit_code == 0
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=project, capture_output=True, text=True)
    heavy = [line for line in done.stderr.splitlines() if line.startswith("HEAVY:")]
    assert heavy == [f"HEAVY:{allowed}"], done.stderr
