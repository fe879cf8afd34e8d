"""`python -m benchmarks.lock_fuzz [--cases N] [--seed S]`: mutate a real lock N times (default 2,000).

Locks four models (dir and hf-cache layouts, a tag, a scanned pickle, a signature) against the
local Hub emulator, then judges every mutant: `lock --check` must refuse it, or accept it only if
it means the very same lock. Prints the tally; exits 1 if any mutant was accepted with another
meaning or crashed with an internal error. Needs the test extra (`pip install -e '.[test]'`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modellock-lock-fuzz-"))
    os.environ.update(
        {
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_XET": "1",
            "HF_HOME": str(work / "hf-home"),
            "MODELLOCK_CACHE_DIR": str(work / "store"),
        }
    )
    from tests import lock_fuzz
    from tests.helpers import cli
    from tests.hub import FakeHub
    from tests.sigstore_fake import FakeSigstore

    hub, sigstore = FakeHub(), FakeSigstore.create()
    try:
        os.environ["HF_ENDPOINT"] = hub.endpoint
        project = work / "project"
        project.mkdir()
        os.chdir(project)
        lock_fuzz.publish(hub, sigstore)
        manifest = lock_fuzz.write_project(project, sigstore)
        locked = cli("lock")
        if locked.exit_code != 0:
            print(locked.stderr, file=sys.stderr)
            return 2
        started = time.monotonic()
        tally = lock_fuzz.run(manifest, args.seed, args.cases)
        elapsed = time.monotonic() - started
    finally:
        hub.close()
    print(f"lock mutants: {args.cases} (seed {args.seed}) in {elapsed:.1f} s")
    print(f"  refused by lock --check:            {tally.refused}")
    print(f"  accepted, same lock:                {tally.same}")
    print(f"  accepted, another lock (must be 0): {tally.different}")
    print(f"  internal errors (must be 0):        {tally.internal}")
    for example in tally.examples or []:
        print("--- example ---\n" + example)
    return 1 if tally.different or tally.internal else 0


if __name__ == "__main__":
    sys.exit(main())
