"""The command line: parse arguments, call an operation, render its result. Nothing else."""

from __future__ import annotations

import functools
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from modellock import __version__
from modellock.console import Console
from modellock.errors import USAGE, ModellockError

app = typer.Typer(
    name="modellock",
    help="Lock AI model weights to commits and digests, and install exactly what is locked.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class _Options:
    project: Path = Path(".")
    quiet: bool = False

    @property
    def manifest_path(self) -> Path:
        return self.project / "modellock.toml"

    def console(self) -> Console:
        return Console(quiet=self.quiet)


_options = _Options()


def _version(value: bool) -> None:
    if value:
        print(f"modellock {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    project: Annotated[
        Path, typer.Option("--project", "-p", help="Directory holding modellock.toml.", show_default=False)
    ] = Path("."),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    _options.project = project
    _options.quiet = quiet


def _command(fn: F) -> F:
    """Run a command body, turning errors into the documented exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        console = _options.console()
        try:
            return fn(*args, **kwargs)
        except ModellockError as exc:
            console.error(exc)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except typer.Exit:
            raise
        except Exception as exc:
            if os.environ.get("MODELLOCK_DEBUG"):
                traceback.print_exc()
            console.error(
                ModellockError(
                    f"internal error: {type(exc).__name__}: {exc}",
                    hint="this is a bug in modellock; set MODELLOCK_DEBUG=1 for a traceback and report it",
                )
            )
            raise typer.Exit(USAGE) from None

    return wrapper  # type: ignore[return-value]


def _store() -> Any:
    from modellock.manifest import load_manifest
    from modellock.store import Store, default_store_root

    manifest = load_manifest(_options.manifest_path)
    return manifest, Store(default_store_root(manifest.settings.store, manifest.path.parent))


@app.command()
@_command
def init() -> None:
    """Create a starter modellock.toml in the project directory."""
    from modellock.ops.project import init_manifest

    path = init_manifest(_options.project)
    _options.console().line(f"Created {path}")


@app.command()
@_command
def add(
    repo: Annotated[str, typer.Argument(help="org/name[@REV], hf://org/name[@REV] or a Hub URL.")],
    name: Annotated[str | None, typer.Option(help="Name in the manifest (default: the repo's name).")] = None,
    revision: Annotated[str | None, typer.Option(help="Branch, tag or 40-hex commit (default: main).")] = None,
    include: Annotated[list[str] | None, typer.Option(help="Glob of files to lock; repeatable.")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Glob of files to leave out; repeatable.")] = None,
) -> None:
    """Add a model to the manifest and lock it."""
    from modellock.ops.lock import lock_project
    from modellock.ops.project import add_model, parse_repo_spec

    spec = parse_repo_spec(repo)
    path = _options.manifest_path
    lock_path = path.with_name("modellock.lock")
    before = path.read_bytes() if path.exists() else None
    lock_before = lock_path.read_bytes() if lock_path.exists() else None
    if before is None:
        from modellock.ops.project import init_manifest

        init_manifest(_options.project)
    try:
        added = add_model(path, spec, name=name, revision=revision, include=include, exclude=exclude)
        manifest, store = _store()
        console = _options.console()
        result = lock_project(manifest, store, progress=console.progress())
    except BaseException:
        # Like `uv add`: a model that cannot be locked leaves the manifest as it was.
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(before)
        if lock_before is not None and lock_path.read_bytes() != lock_before:
            lock_path.write_bytes(lock_before)
        raise
    console.lock_result(result)
    del added


@app.command()
@_command
def remove(name: Annotated[str, typer.Argument(help="The model's name in the manifest.")]) -> None:
    """Remove a model from the manifest and the lock."""
    from modellock.ops.project import remove_model

    remove_model(_options.manifest_path, name)
    _options.console().line(f"Removed {name}")


@app.command()
@_command
def lock(
    check: Annotated[
        bool, typer.Option("--check", help="Check the lock is intact and matches the manifest; offline.")
    ] = False,
    upgrade: Annotated[bool, typer.Option("--upgrade", "-U", help="Re-resolve every model.")] = False,
    upgrade_model: Annotated[
        list[str] | None, typer.Option("--upgrade-model", "-P", help="Re-resolve one model; repeatable.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Resolve and report; write nothing.")] = False,
) -> None:
    """Resolve the manifest to commits and write modellock.lock."""
    from modellock.errors import CHECK_FAILED, UsageError
    from modellock.manifest import load_manifest

    console = _options.console()
    if check:
        if upgrade or upgrade_model or dry_run:
            raise UsageError("--check cannot be combined with --upgrade, --upgrade-model or --dry-run")
        from modellock.ops.check import check_lock

        manifest = load_manifest(_options.manifest_path)
        result = check_lock(manifest)
        console.check_result(result, manifest.lock_path.name)
        if not result.ok:
            raise typer.Exit(CHECK_FAILED)
        return
    from modellock.ops.lock import lock_project

    manifest, store = _store()
    outcome = lock_project(
        manifest,
        store,
        upgrade_all=upgrade,
        upgrade=upgrade_model or (),
        dry_run=dry_run,
        progress=console.progress(),
    )
    console.lock_result(outcome)


def main() -> None:
    app()
