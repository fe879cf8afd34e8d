"""`modellock run`'s cost: `run -- true` against `status` on the same project (issue #23: at most 1.5x),
a guarded Python's start-up, and what an audit hook on `open` would add. `python -m benchmarks.runtime`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from benchmarks import data
from benchmarks.measure import interleave, ratio_of_medians, run_command

MODELLOCK = [sys.executable, "-m", "modellock"]


def audit_hook_cost(opens: int = 20000) -> tuple[float, float]:
    """Seconds per `open()` of a small file without and with an audit hook that filters paths by prefix
    (the least a per-open check would do before it looked up or hashed anything)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f"
        path.write_bytes(b"x")

        def loop() -> float:
            started = time.perf_counter()
            for _ in range(opens):
                with open(path, "rb") as f:
                    f.read()
            return (time.perf_counter() - started) / opens

        plain = min(loop() for _ in range(3))
        prefix = str(Path(tmp) / "locked") + "/"

        def hook(event: str, args: tuple[object, ...]) -> None:
            if event == "open" and isinstance(args[0], str) and args[0].startswith(prefix):
                raise PermissionError(args[0])

        sys.addaudithook(hook)  # cannot be removed: measured last
        hooked = min(loop() for _ in range(3))
        return plain, hooked


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        models = {f"m{i}": data.tiny_files(project / "models" / f"m{i}", 200) for i in range(5)}
        data.project_for(project, models, installed=True)
        env = data.env_for()
        series = interleave(
            rounds,
            {
                "modellock status": lambda: run_command([*MODELLOCK, "-p", str(project), "status"], env=env),
                "modellock run -- true": lambda: run_command(
                    [*MODELLOCK, "-p", str(project), "run", "--", "true"], env=env
                ),
                "python -c pass": lambda: run_command([sys.executable, "-c", "pass"], env=env),
                "run -- python -c pass": lambda: run_command(
                    [*MODELLOCK, "-p", str(project), "run", "--", sys.executable, "-c", "pass"], env=env
                ),
            },
        )
    for name, s in series.items():
        print(f"{name:28s} median {s.median * 1000:7.1f} ms")
    ratio = ratio_of_medians(series["modellock run -- true"], series["modellock status"])
    print(f"run -- true / status: {ratio:.2f}x (target <= 1.5x): {'met' if ratio <= 1.5 else 'NOT met'}")
    guarded = series["run -- python -c pass"].median - series["modellock run -- true"].median
    print(
        f"a guarded Python's start beyond `run -- true`: {guarded * 1000:.1f} ms "
        f"(plain python -c pass: {series['python -c pass'].median * 1000:.1f} ms)"
    )
    plain, hooked = audit_hook_cost()
    print(
        f"open()+read of a small file: {plain * 1e6:.2f} us plain, {hooked * 1e6:.2f} us with a prefix-filtering "
        f"audit hook ({hooked / plain:.2f}x)"
    )


if __name__ == "__main__":
    main()
