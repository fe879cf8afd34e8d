"""`modellock`: the typer app with every command family registered, and the entry point."""

from __future__ import annotations

import os
import sys
from typing import Any

from modellock.errors import USAGE, UnsupportedDependency


def _unsupported(exc: UnsupportedDependency) -> None:
    """The CLI's own modules need a supported typer; without one there is no app to report through."""
    print(f"error: {exc.message}", file=sys.stderr)
    print(f"hint: {exc.hint}", file=sys.stderr)
    raise SystemExit(USAGE)


try:
    from modellock.cli import (  # noqa: F401 - they register their commands
        cache_cmd,
        completion_cmd,  # registered below, last
        inspect_cmd,
        install_cmd,
        lineage_cmd,
        lock_cmd,
        oci_cmd,
        project_cmd,
        run_cmd,
        scan_cmd,
        sign_cmd,
    )
    from modellock.cli.base import PIPE_CLOSED, app, options, pipe_closed
except UnsupportedDependency as exc:
    _unsupported(exc)

completion_cmd.register()

__all__ = ["app", "main"]


def _terminated(signum: int, frame: Any) -> None:
    """SIGTERM stops a run the way Ctrl-C does: downloads keep what arrived, nothing half-installed."""
    options.signal = signum
    raise KeyboardInterrupt


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminated)
    try:
        try:
            app()
        finally:
            sys.stdout.flush()  # here, not at interpreter exit, where a closed pipe cannot be answered
    except BrokenPipeError:
        pipe_closed()
        raise SystemExit(PIPE_CLOSED) from None
    except SystemExit as exc:
        if exc.code in (130, 143):
            # Leave now rather than tear the interpreter down (its final garbage collection took
            # 0.3-0.6 s on a busy machine, around any download thread abandoned in a read).
            # Everything kept is already on disk.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.code)
        raise
