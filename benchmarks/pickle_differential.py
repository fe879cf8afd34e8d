"""The long differential run: `python -m benchmarks.pickle_differential [--cases N] [--seed S]`.

Same generator and property as tests/test_differential.py (tests/differential.py), many more cases.
Prints the counts and the first disagreements; exits 1 if there are any.
"""

from __future__ import annotations

import argparse
import sys
import time

from tests.differential import run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    outcome = run(args.seed, args.cases)
    elapsed = time.perf_counter() - started
    sys.stdout.write(
        f"{outcome.cases} cases (seed {args.seed}) in {elapsed:.1f} s: walker refused {outcome.walker_failed} "
        f"({outcome.refused_differential} as differential/limit), an oracle resolved globals in "
        f"{outcome.oracle_resolved} runs, {len(outcome.problems)} disagreements\n"
    )
    for problem in outcome.problems[:20]:
        sys.stdout.write(f"  {problem[:300]}\n")
    sys.exit(1 if outcome.problems else 0)


if __name__ == "__main__":
    main()
