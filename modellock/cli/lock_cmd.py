"""`lock`: resolve and write the lock, or check it (`--check`, `--check --remote`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modellock.cli.base import (
    Format,
    FormatOption,
    TrustedRootOption,
    WithBasesOption,
    WithDependentsOption,
    app,
    command,
    options,
)


@app.command()
@command
def lock(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="modellock.toml or modellock.lock files whose projects to lock (pre-commit passes them).",
            show_default=False,
        ),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Check the lock is intact and matches the manifest; offline.")
    ] = False,
    remote: Annotated[
        bool,
        typer.Option("--remote", help="With --check: also prove every locked commit and file against the Hub."),
    ] = False,
    upgrade: Annotated[bool, typer.Option("--upgrade", "-U", help="Re-resolve every model.")] = False,
    upgrade_model: Annotated[
        list[str] | None, typer.Option("--upgrade-model", "-P", help="Re-resolve one model; repeatable.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Resolve and report; write nothing.")] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="No network: use locked commits and the store's file listings.")
    ] = False,
    output: FormatOption = Format.text,
    trusted_root: TrustedRootOption = None,
    accept_new_signer: Annotated[
        bool, typer.Option("--accept-new-signer", help="Accept a signer different from the one locked before.")
    ] = False,
    allow_unsigned: Annotated[
        bool, typer.Option("--allow-unsigned", help="Accept an unsigned commit where the locked one was signed.")
    ] = False,
    with_bases: WithBasesOption = False,
    with_dependents: WithDependentsOption = False,
) -> None:
    """Resolve the manifest to commits and write modellock.lock."""
    from modellock.errors import CHECK_FAILED, UsageError

    if check and (upgrade or upgrade_model or dry_run):
        raise UsageError("--check cannot be combined with --upgrade, --upgrade-model or --dry-run")
    if remote and not check:
        raise UsageError("--remote goes with --check")
    projects = _projects_of(files) if files else [None]
    failed = False
    for project in projects:
        if project is not None:
            options.explicit_project = project
        if check:
            failed |= not _check_one(output, remote)
        else:
            _lock_one(upgrade, upgrade_model, dry_run, offline, output, trusted_root, accept_new_signer, allow_unsigned,
                      lineage=(with_bases, with_dependents))  # fmt: skip
    if failed:
        raise typer.Exit(CHECK_FAILED)


def _projects_of(files: list[Path]) -> list[Path]:
    """The distinct project directories of manifest or lock paths, in order."""
    from modellock.errors import UsageError

    projects: list[Path] = []
    for path in files:
        if path.name not in ("modellock.toml", "modellock.lock"):
            raise UsageError(f"{path}: not a modellock.toml or modellock.lock", hint="pass the project's files")
        if path.parent not in projects:
            projects.append(path.parent)
    return projects


def _check_one(output: Format, remote: bool) -> bool:
    from modellock.api.project import Project

    console = options.console()
    result = Project(options.project).check(remote=remote)
    name = str(result.lock_path) if options.explicit_project else "modellock.lock"
    from modellock.report import views

    if result.remote:
        views.proof(result.lock_path, name).render(output.value, result.detail, console)
    else:
        views.check(result.lock_path, name).render(output.value, result.detail, console)
    return result.ok


def _lock_one(
    upgrade: bool,
    upgrade_model: list[str] | None,
    dry_run: bool,
    offline: bool,
    output: Format,
    trusted_root: Path | None,
    accept_new_signer: bool,
    allow_unsigned: bool,
    lineage: tuple[bool, bool] = (False, False),
) -> None:
    from modellock.api.project import Project

    console = options.console()
    project = Project(options.project)
    result = project.lock(
        upgrade=upgrade,
        upgrade_models=upgrade_model or (),
        offline=offline,
        dry_run=dry_run,
        trusted_root=trusted_root,
        accept_new_signer=accept_new_signer,
        allow_unsigned=allow_unsigned,
        with_bases=lineage[0],
        with_dependents=lineage[1],
        progress=console.progress() if output is Format.text else None,
    )
    from modellock.report import views

    console.bases_added(result.bases_added)
    views.lock(project.lock_path, result.bases_added).render(output.value, result.detail, console)
