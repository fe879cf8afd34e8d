"""`modellock`: the typer app with every command family registered, and the entry point."""

from __future__ import annotations

import os
import sys
from typing import Any

from modellock.cli import (  # noqa: F401 - they register their commands
    cache_cmd,
    inspect_cmd,
    install_cmd,
    lineage_cmd,
    lock_cmd,
    oci_cmd,
    project_cmd,
    run_cmd,
    scan_cmd,
)
from modellock.cli.base import app, options

__all__ = ["app", "main"]


def _terminated(signum: int, frame: Any) -> None:
    """SIGTERM stops a run the way Ctrl-C does: downloads keep what arrived, nothing half-installed."""
    options.signal = signum
    raise KeyboardInterrupt


def main() -> None:
    import signal
    import threading

    signal.signal(signal.SIGTERM, _terminated)
    try:
        app()
    except SystemExit as exc:
        if exc.code in (130, 143) and threading.active_count() > 1:
            # A download thread abandoned in a read: leave now rather than tear the interpreter down
            # around it (a third of a second). Everything kept is already on disk.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.code)
        raise

