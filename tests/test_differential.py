"""The walker against CPython's unpicklers on seeded random and mutated pickles (tests/differential.py)."""

from __future__ import annotations

from tests.differential import Outcome, check, run


def test_every_global_cpython_resolves_is_reported() -> None:
    outcome = run(seed=10, count=4000)
    assert not outcome.problems, outcome.problems[:5]
    # The run must exercise both sides: streams the walker refuses and streams CPython resolves from.
    assert outcome.walker_failed > 1000 and outcome.oracle_resolved > 500, outcome


def test_the_oracle_itself_sees_what_it_should() -> None:
    outcome = Outcome()
    check(b"cos\nsystem\n(S'echo'\ntR.", outcome)
    assert not outcome.problems and outcome.oracle_resolved == 2
