"""`sync`, `verify` and `status`: install the lock, and compare what is installed with it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modellock.cli.base import (
    Format,
    FormatOption,
    ModelOption,
    TrustedRootOption,
    app,
    command,
    options,
)


@app.command()
@command
def sync(
    locked: Annotated[bool, typer.Option("--locked", help="Fail if the lock is stale against the manifest.")] = False,
    frozen: Annotated[bool, typer.Option("--frozen", help="Use the lock as it is; do not re-lock.")] = False,
    offline: Annotated[bool, typer.Option("--offline", help="Use only the store; fail on anything missing.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if anything is out of sync; change nothing.")] = False,
    upgrade: Annotated[
        bool, typer.Option("--upgrade", "-U", help="Re-resolve every model (a new lock), then install it.")
    ] = False,
    reinstall: Annotated[
        bool, typer.Option("--reinstall", help="Rebuild every selected model's tree, re-hashing its store blobs.")
    ] = False,
    model: ModelOption = None,
    inexact: Annotated[bool, typer.Option("--inexact", help="Keep files the lock does not list.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Take over target directories holding files modellock did not put there.")
    ] = False,
    link_mode: Annotated[
        str | None, typer.Option("--link-mode", help="reflink, hardlink or copy (default: first that works).")
    ] = None,
    output: FormatOption = Format.text,
    trusted_root: TrustedRootOption = None,
    registry: Annotated[
        str | None,
        typer.Option("--registry", help="Pull from this OCI registry (oci://HOST/NAMESPACE) before the Hub."),
    ] = None,
    from_oci_layout: Annotated[
        Path | None,
        typer.Option("--from-oci-layout", help="Install from this OCI image layout only (air-gapped)."),
    ] = None,
) -> None:
    """Install exactly what the lock says into each model's directory."""
    from modellock.api.project import Project
    from modellock.errors import CHECK_FAILED

    console = options.console()
    outcome = Project(options.project).sync(
        locked=locked,
        frozen=frozen,
        offline=offline,
        dry_run=dry_run,
        check=check,
        upgrade=upgrade,
        reinstall=reinstall,
        models=model or (),
        inexact=inexact,
        force=force,
        link_mode=link_mode,
        trusted_root=trusted_root,
        registry=registry,
        from_oci_layout=from_oci_layout,
        progress=console.progress() if output is Format.text else None,
    )
    done = outcome.detail
    for warning in done.warnings:
        console.warn(warning)
    drifted = check and not outcome.in_sync
    from modellock.report import views

    views.sync(ok=not drifted).render(output.value, done, console)
    if drifted:
        raise typer.Exit(CHECK_FAILED)


@app.command()
@command
def verify(
    model: ModelOption = None,
    store_too: Annotated[bool, typer.Option("--store", help="Also re-hash every store blob the lock uses.")] = False,
    output: FormatOption = Format.text,
    trusted_root: TrustedRootOption = None,
) -> None:
    """Re-hash installed files; report missing, modified and extra ones."""
    from modellock.api.project import Project

    report = Project(options.project).verify(models=model or (), store=store_too, trusted_root=trusted_root)
    _render_report(report.detail, output, "verify")


@app.command()
@command
def status(model: ModelOption = None, output: FormatOption = Format.text) -> None:
    """Compare installed files' size, mtime and inode with the install."""
    from modellock.api.project import Project

    _render_report(Project(options.project).status(models=model or ()).detail, output, "status")


def _render_report(report: Any, output: Format, command: str) -> None:
    """Print a verify/status report; exit 1 when anything differs from the lock."""
    from modellock.errors import CHECK_FAILED
    from modellock.report import views

    views.installed(command).render(output.value, report, options.console())
    if not report.ok:
        raise typer.Exit(CHECK_FAILED)
