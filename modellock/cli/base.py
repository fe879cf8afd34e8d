"""The command line's frame: the typer app, global options, shared option types, and the one wrapper
that turns every failure into an `error:`/`hint:` message and the documented exit code."""

from __future__ import annotations

import enum
import functools
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from modellock import __version__
from modellock.cli.group import ModellockGroup
from modellock.errors import USAGE, Interrupted, ModellockError
from modellock.report.console import Console

CONTEXT = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    name="modellock",
    cls=ModellockGroup,
    help="Lock AI model weights to commits and digests, and install exactly what is locked.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rendering it with rich costs more than the rest of `--help`
    context_settings=CONTEXT,
)

F = TypeVar("F", bound=Callable[..., Any])
TrustedRootOption = Annotated[
    Path | None,
    typer.Option(
        "--trusted-root",
        help="Sigstore trusted_root.json to verify signatures with (private instance).",
        show_default=False,
    ),
]


class Color(str, enum.Enum):
    auto = "auto"
    always = "always"
    never = "never"


@dataclass
class Options:
    explicit_project: Path | None = None
    quiet: bool = False
    verbose: int = 0
    progress: bool = True
    color: Color = Color.auto
    signal: int = 2  # SIGINT; SIGTERM sets 15, so the exit code is 128 + the signal, as shells expect
    found: Path | None = None

    @property
    def project(self) -> Path:
        """`--project`, else the nearest directory upwards holding a manifest (or a lock); searched once."""
        if self.explicit_project is not None:
            return self.explicit_project
        if self.found is None:
            from modellock.project.discover import find_project

            self.found = find_project(Path("."))
        return self.found

    @property
    def manifest_path(self) -> Path:
        return self.project / "modellock.toml"

    def console(self) -> Console:
        return Console(quiet=self.quiet, verbose=self.verbose, progress=self.progress, color=self.color.value)


options = Options()


def _version(value: bool) -> None:
    if value:
        print(f"modellock {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    project: Annotated[
        Path | None,
        typer.Option(
            "--project",
            "-p",
            help="Directory holding modellock.toml (default: the nearest one upwards).",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="Say more: HTTP requests, tracebacks of internal errors.",
            show_default=False,
        ),
    ] = 0,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Never draw progress bars.")] = False,
    color: Annotated[Color, typer.Option("--color", help="Colour in messages: auto, always or never.")] = Color.auto,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    options.explicit_project = project
    options.found = None
    options.quiet = quiet
    options.verbose = verbose
    options.progress = not no_progress
    options.color = color
    if verbose:
        # huggingface_hub configures its own logger when first imported (later, and only if needed):
        # this makes it log each request (method, URL, whether authenticated; never the token).
        os.environ["HF_HUB_VERBOSITY"] = "debug"


def _wants_json(kwargs: dict[str, Any]) -> bool:
    output = kwargs.get("output")
    return output is not None and output.value != "text"


def _fail(console: Console, exc: ModellockError, as_json: bool, command: str = "modellock") -> None:
    console.error(exc)
    if as_json:
        from modellock.report import json_docs

        console.json(json_docs.failure(command, exc))


def _say_where(console: Console) -> None:
    """`-v`: the project and the store in use (docs/cli.md), before anything else is said."""
    if not options.verbose:
        return
    from modellock.api.project import Project

    try:
        store = Project(options.project).store_root()
    except ModellockError:
        store = None  # a manifest that cannot be read: the command itself says why
    console.debug(f"project {options.project}, store {store or 'unknown'}")


def command(fn: F) -> F:
    """Run a command body, turning errors into the documented exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        console = options.console()
        as_json = _wants_json(kwargs)
        name = "check" if fn.__name__ == "lock" and kwargs.get("check") else fn.__name__.rstrip("_")  # as its JSON
        try:
            _tidy_project()
            _say_where(console)
            return fn(*args, **kwargs)
        except Interrupted as exc:
            _fail(console, exc, as_json, name)
            raise typer.Exit(128 + options.signal) from None
        except ModellockError as exc:
            _fail(console, exc, as_json, name)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _fail(console, Interrupted("interrupted"), as_json, name)
            raise typer.Exit(128 + options.signal) from None
        except typer.Exit:
            raise
        except BrokenPipeError:
            pipe_closed()
            raise typer.Exit(PIPE_CLOSED) from None
        except OSError as exc:
            from modellock.store.diskspace import describe

            mapped = describe(exc)
            if mapped is None:
                _internal(console, exc, as_json, name)
            else:
                _fail(console, mapped, as_json, name)
            raise typer.Exit(USAGE) from None
        except Exception as exc:
            _internal(console, exc, as_json, name)
            raise typer.Exit(USAGE) from None

    return wrapper  # type: ignore[return-value]


PIPE_CLOSED = 128 + 13
"""The exit code of a process SIGPIPE ended, which is what a shell reports for `yes | head`."""


def pipe_closed() -> None:
    """The reader of stdout went away (`modellock scan DIR | head`): leave quietly, as the pipe expects.

    stdout is pointed at /dev/null first, so the interpreter's last flush of what is still buffered
    cannot fail a second time (the recipe of Python's `signal` documentation).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def _tidy_project() -> None:
    """Remove temporary files a killed run left beside modellock.toml and modellock.lock (one listdir)."""
    from modellock.store import atomic

    project = options.project
    if (project / "modellock.lock").exists() or (project / "modellock.toml").exists():
        atomic.clean_temps(project)


def _internal(console: Console, exc: BaseException, as_json: bool, command: str) -> None:
    if os.environ.get("MODELLOCK_DEBUG") or options.verbose:
        traceback.print_exc()
    _fail(
        console,
        ModellockError(
            f"internal error: {type(exc).__name__}: {exc}",
            hint="this is a bug in modellock; run with -v (or MODELLOCK_DEBUG=1) for a traceback and report it",
        ),
        as_json,
        command,
    )


class Format(str, enum.Enum):
    text = "text"
    json = "json"


class ScanFormat(str, enum.Enum):
    text = "text"
    json = "json"
    sarif = "sarif"


class Layout(str, enum.Enum):
    dir = "dir"
    hf_cache = "hf-cache"


class RepoType(str, enum.Enum):
    model = "model"
    dataset = "dataset"


class Pickle(str, enum.Enum):
    deny = "deny"
    scan = "scan"
    allow = "allow"


FormatOption = Annotated[Format, typer.Option("--format", help="Output format: text or json.")]
WithBasesOption = Annotated[
    bool, typer.Option("--with-bases", help="Add the base models this one declares (and theirs) to the manifest.")
]
WithDependentsOption = Annotated[
    bool, typer.Option("--with-dependents", help="Re-validate lineage edges whose base moved (stale edges).")
]
ModelOption = Annotated[list[str] | None, typer.Option("--model", help="Only this model; repeatable.")]
