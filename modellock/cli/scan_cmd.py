"""`scan`: the safety gate on any file, without a lock."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modellock.cli.base import (
    ScanFormat,
    app,
    command,
    options,
)


@app.command()
@command
def scan(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to scan.", show_default=False)],
    pickle: Annotated[str, typer.Option("--pickle", help="deny, scan (accept clean pickles) or allow.")] = "scan",
    remote_code: Annotated[str, typer.Option("--remote-code", help="deny or allow.")] = "deny",
    output: Annotated[ScanFormat, typer.Option("--format", help="Output format.")] = ScanFormat.text,
) -> None:
    """Scan model files without loading them (exit 1 if any is refused)."""
    from modellock.api.scanning import scan as scan_files
    from modellock.errors import CHECK_FAILED

    result = scan_files(*paths, pickle=pickle, remote_code=remote_code)  # type: ignore[arg-type]
    from modellock.report import views

    views.scan().render(output.value, result.detail, options.console())
    if not result.ok:
        raise typer.Exit(CHECK_FAILED)
