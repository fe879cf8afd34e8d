"""A few hundred mutated manifests and locks: none may end in an internal error (benchmarks/fuzz.py runs thousands)."""

from __future__ import annotations

import os
import random
from pathlib import Path

from benchmarks.fuzz import fuzz_locks, fuzz_manifests, mutate, seed_lock
from tests.helpers import cli


def test_mutated_manifests_and_locks_never_crash(tmp_path: Path) -> None:
    manifests = fuzz_manifests(300, seed=7, workdir=tmp_path)
    locks = fuzz_locks(300, seed=7, workdir=tmp_path)
    for tally in (manifests, locks):
        assert tally.internal == [], tally.internal[0][1]
        assert tally.accepted and tally.refused  # the mutants reach both outcomes


def test_mutated_locks_through_the_cli(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    (tmp_path / "modellock.toml").write_text('[models.tiny]\nrepo = "acme/tiny"\n')
    rng = random.Random(3)
    for _ in range(25):
        (tmp_path / "modellock.lock").write_bytes(mutate(seed_lock(), rng))
        for args in (("lock", "--check"), ("status",), ("sync", "--dry-run", "--frozen", "--offline")):
            run = cli(*args)
            assert "internal error" not in run.stderr, (args, run.stderr)
            assert run.exit_code in (0, 1, 2)
