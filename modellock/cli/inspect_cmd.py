"""Commands that read a lock and say what it holds: `export`, `list`, `show`, `diff`, `outdated`, `audit`.

Registered on the app by `cli/app.py`; everything heavy is imported inside the commands.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modellock.cli.base import Format, FormatOption, ScanFormat, app, command, options

if TYPE_CHECKING:
    from collections.abc import Callable

    from modellock.project.lockfile import Lockfile
    from modellock.sources.interface import Source


class ExportFormat(str, enum.Enum):
    cyclonedx16 = "cyclonedx1.6"
    cyclonedx17 = "cyclonedx1.7"
    spdx3 = "spdx3"


@app.command()
@command
def export(
    fmt: Annotated[ExportFormat, typer.Option("--format", help="cyclonedx1.6, cyclonedx1.7 or spdx3 (SPDX 3.0.1).")] = (
        ExportFormat.cyclonedx16
    ),
    output_file: Annotated[
        Path | None, typer.Option("--output-file", "-o", help="Write here (default: stdout).", show_default=False)
    ] = None,
    oci_layout: Annotated[
        Path | None,
        typer.Option(
            "--oci-layout", help="Instead: write the locked models as an OCI image layout here.", show_default=False
        ),
    ] = None,
) -> None:
    """Write an AI-BOM of the lock (validated first; SOURCE_DATE_EPOCH sets its timestamp)."""
    if oci_layout is not None:
        from modellock.cli.oci_cmd import export_layout

        return export_layout(oci_layout, (), Format.text)
    from modellock.api.project import Project

    bom = Project(options.project).export(fmt.value)  # type: ignore[arg-type]
    if output_file is None:
        typer.echo(bom.text, nl=False)
        return
    from modellock.store.atomic import write_text
    from modellock.text import count

    write_text(output_file, bom.text)
    options.console().line(f"Wrote {output_file} ({count(bom.models, 'model')}, {fmt.value})")


def _echo(lines: list[str]) -> None:
    typer.echo("\n".join(lines))


def _lock_path() -> Path:
    return options.project / "modellock.lock"


@app.command("list")
@command
def list_models(output: FormatOption = Format.text) -> None:
    """List the locked models: commits, sizes, layout, signed or not, policy."""
    from modellock.ops.inspect import read_view
    from modellock.report import inspect as show

    view = read_view(_lock_path())
    if output is Format.json:
        options.console().json(show.list_json(view))
    else:
        _echo(show.list_text(view))


@app.command()
@command
def show(
    name: Annotated[str, typer.Argument(help="The model's name in the lock.", show_default=False)],
    output: FormatOption = Format.text,
) -> None:
    """Everything the lock knows about one model, files included."""
    from modellock.errors import UsageError
    from modellock.ops.inspect import read_view
    from modellock.report import inspect as render

    view = read_view(_lock_path())
    model = view.lock.get(name)
    if model is None:
        known = ", ".join(view.lock.names()) or "none"
        raise UsageError(f"no model `{name}` in the lock", hint=f"locked models: {known}")
    if output is Format.json:
        options.console().json(render.show_json(view, model))
    else:
        _echo(render.show_text(view, model))


@app.command()
@command
def diff(
    old: Annotated[
        str | None, typer.Argument(help="A lock file or a git revision (default: HEAD).", show_default=False)
    ] = None,
    new: Annotated[
        str | None, typer.Argument(help="A lock file or a git revision (default: modellock.lock).", show_default=False)
    ] = None,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 1 when the locks differ.")] = False,
    output: FormatOption = Format.text,
) -> None:
    """What changed between two locks: models, commits, files, signers and gate verdicts."""
    from modellock.ops.inspect import diff_locks, read_either, read_view
    from modellock.report import inspect as render

    project = options.project
    before = read_either(project, old or "HEAD")
    after = read_either(project, new) if new is not None else read_view(_lock_path())
    result = diff_locks(before, after)
    if output is Format.json:
        options.console().json(render.diff_json(result))
    else:
        _echo(render.diff_text(result))
    if exit_code and result.changed:
        raise typer.Exit(1)


@app.command()
@command
def outdated(
    model: Annotated[list[str] | None, typer.Option("--model", help="Only this model; repeatable.")] = None,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 1 when anything is outdated.")] = False,
    output: FormatOption = Format.text,
) -> None:
    """Newer commits on each locked branch, and newer tags (asks the Hub; downloads nothing)."""
    from modellock.ops.outdated import find_outdated
    from modellock.report import inspect as render

    lock, source_for = _sealed_lock_and_sources(model)
    report = find_outdated(lock, source_for, models=tuple(model or ()))
    if output is Format.json:
        options.console().json(render.outdated_json(report))
    else:
        _echo(render.outdated_text(report))
    if exit_code and report.outdated:
        raise typer.Exit(1)


def _sealed_lock_and_sources(model: list[str] | None) -> tuple[Lockfile, Callable[[str], Source]]:
    """The sealed lock (refused unless whole), checked `--model` names, and sources at the manifest's endpoint."""
    from modellock.errors import ConfigError, UsageError
    from modellock.project.lockread import read_sealed_lock
    from modellock.project.manifest import load_manifest
    from modellock.sources import open_source

    lock = read_sealed_lock(_lock_path())
    if lock is None:
        raise ConfigError("no lock found", file=str(_lock_path()), hint="run `modellock lock` first")
    unknown = sorted(set(model or ()) - set(lock.names()))
    if unknown:
        raise UsageError(f"no model {', '.join(f'`{n}`' for n in unknown)} in the lock")
    manifest_path = options.manifest_path
    settings = load_manifest(manifest_path).settings if manifest_path.exists() else None
    endpoint, s3_endpoint = (settings.endpoint, settings.s3_endpoint) if settings else (None, None)
    project_dir = manifest_path.parent
    return lock, lambda name: open_source(name, endpoint=endpoint, project_dir=project_dir, s3_endpoint=s3_endpoint)


@app.command()
@command
def audit(
    model: Annotated[list[str] | None, typer.Option("--model", help="Only this model; repeatable.")] = None,
    output: Annotated[ScanFormat, typer.Option("--format", help="Output format: text, json or sarif.")] = (
        ScanFormat.text
    ),
) -> None:
    """What the Hub's own scans say now about the locked files, against the lock (exit 1 on a new unsafe)."""
    from modellock.ops.audit import audit_lock
    from modellock.project.manifest import load_manifest
    from modellock.report.audit import AuditJson, AuditSarif, audit_text

    lock, source_for = _sealed_lock_and_sources(model)
    manifest_path = options.manifest_path
    # The manifest's hub-scan-allow is what people reviewed; without a manifest nothing is allowed.
    specs = load_manifest(manifest_path).models if manifest_path.exists() else {}
    allowed = {name: spec.hub_scan_allow for name, spec in specs.items()}
    report = audit_lock(lock, source_for, models=tuple(model or ()), allowed=allowed)
    if output is ScanFormat.text:
        _echo(audit_text(report))
    else:
        document = {d.name: d for d in (AuditJson(), AuditSarif())}[output.value]
        options.console().json(document.build(report))
    if report.failing:
        raise typer.Exit(1)
