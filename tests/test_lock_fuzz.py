"""Every mutant of a real lock that `lock --check` accepts means the same lock (seeded, a few hundred)."""

from __future__ import annotations

from pathlib import Path

from tests import lock_fuzz
from tests.helpers import cli
from tests.hub import FakeHub
from tests.sigstore_fake import FakeSigstore


def test_accepted_mutants_mean_the_same_lock(project: Path, hub: FakeHub, sigstore: FakeSigstore) -> None:
    lock_fuzz.publish(hub, sigstore)
    manifest = lock_fuzz.write_project(project, sigstore)
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    assert "bases = [{" in manifest.with_name("modellock.lock").read_text()  # edges are fuzzed too
    tally = lock_fuzz.run(manifest, seed=7, count=400)
    assert tally.different == 0 and tally.internal == 0, tally.examples
    assert tally.refused > 300  # the mutations are real edits, not no-ops
