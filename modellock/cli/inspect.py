"""Commands that read a lock and say what it holds: `export`, `list`, `show`, `diff`, `outdated`.

Registered on the app by `cli/app.py`; everything heavy is imported inside the commands.
"""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Annotated

import typer

from modellock.cli.app import _command, _options, app


class ExportFormat(str, enum.Enum):
    cyclonedx16 = "cyclonedx1.6"
    cyclonedx17 = "cyclonedx1.7"


@app.command()
@_command
def export(
    fmt: Annotated[ExportFormat, typer.Option("--format", help="cyclonedx1.6 or cyclonedx1.7.")] = (
        ExportFormat.cyclonedx16
    ),
    output_file: Annotated[
        Path | None, typer.Option("--output-file", "-o", help="Write here (default: stdout).", show_default=False)
    ] = None,
) -> None:
    """Write an AI-BOM of the lock (validated first; SOURCE_DATE_EPOCH sets its timestamp)."""
    from modellock.ops.export import export_source

    source = export_source(_options.project / "modellock.lock", os.environ)
    from modellock.report import cyclonedx

    text = cyclonedx.render(source, fmt.value.removeprefix("cyclonedx"))
    if output_file is None:
        typer.echo(text, nl=False)
        return
    from modellock.store.atomic import write_text

    write_text(output_file, text)
    _options.console().line(f"Wrote {output_file} ({len(source.lock.models)} models, {fmt.value})")
