"""The command line: parse arguments, call an operation, render its result. Nothing else."""

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

_CONTEXT = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    name="modellock",
    cls=ModellockGroup,
    help="Lock AI model weights to commits and digests, and install exactly what is locked.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rendering it with rich costs more than the rest of `--help`
    context_settings=_CONTEXT,
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


def _trust(manifest: Any, flag: Path | None, *, online: bool) -> Any:
    """The flag, else `[settings] trusted-root` (relative to the manifest), else the production root."""
    from modellock.ops.signatures import TrustSource

    setting = manifest.settings.trusted_root if manifest is not None else None
    explicit = flag or ((manifest.path.parent / Path(setting).expanduser()) if setting else None)
    return TrustSource(explicit, online=online)


class Color(str, enum.Enum):
    auto = "auto"
    always = "always"
    never = "never"


@dataclass
class _Options:
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


_options = _Options()


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
    _options.explicit_project = project
    _options.found = None
    _options.quiet = quiet
    _options.verbose = verbose
    _options.progress = not no_progress
    _options.color = color
    if verbose:
        # huggingface_hub configures its own logger when first imported (later, and only if needed):
        # this makes it log each request (method, URL, whether authenticated; never the token).
        os.environ["HF_HUB_VERBOSITY"] = "debug"


def _wants_json(kwargs: dict[str, Any]) -> bool:
    output = kwargs.get("output")
    return output is not None and output.value != "text"


def _fail(console: Console, exc: ModellockError, as_json: bool) -> None:
    console.error(exc)
    if as_json:
        console.json({"ok": False, "error": exc.message, "hint": exc.hint, "exit_code": exc.exit_code})


def _command(fn: F) -> F:
    """Run a command body, turning errors into the documented exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        console = _options.console()
        as_json = _wants_json(kwargs)
        try:
            _tidy_project()
            return fn(*args, **kwargs)
        except Interrupted as exc:
            _fail(console, exc, as_json)
            raise typer.Exit(128 + _options.signal) from None
        except ModellockError as exc:
            _fail(console, exc, as_json)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _fail(console, Interrupted("interrupted"), as_json)
            raise typer.Exit(128 + _options.signal) from None
        except typer.Exit:
            raise
        except OSError as exc:
            from modellock.store.diskspace import describe

            mapped = describe(exc)
            if mapped is None:
                _internal(console, exc, as_json)
            else:
                _fail(console, mapped, as_json)
            raise typer.Exit(USAGE) from None
        except Exception as exc:
            _internal(console, exc, as_json)
            raise typer.Exit(USAGE) from None

    return wrapper  # type: ignore[return-value]


def _tidy_project() -> None:
    """Remove temporary files a killed run left beside modellock.toml and modellock.lock (one listdir)."""
    from modellock.store import atomic

    project = _options.project
    if (project / "modellock.lock").exists() or (project / "modellock.toml").exists():
        atomic.clean_temps(project)


def _internal(console: Console, exc: BaseException, as_json: bool) -> None:
    if os.environ.get("MODELLOCK_DEBUG") or _options.verbose:
        traceback.print_exc()
    _fail(
        console,
        ModellockError(
            f"internal error: {type(exc).__name__}: {exc}",
            hint="this is a bug in modellock; run with -v (or MODELLOCK_DEBUG=1) for a traceback and report it",
        ),
        as_json,
    )


def _store() -> Any:
    from modellock.project.manifest import load_manifest
    from modellock.store.blobs import open_store

    manifest = load_manifest(_options.manifest_path)
    store = open_store(manifest.settings.store, manifest.path.parent)
    store.tidy()
    _options.console().debug(f"project {manifest.path.parent}, store {store.root}")
    return manifest, store


def _sources(manifest: Any, store: Any, *, offline: bool = False) -> Any:
    """How `lock` reaches each source: recording the file listings it reads, or only from those (`--offline`)."""
    from modellock.sources import open_source
    from modellock.sources.stored import OfflineSource, RecordingSource

    if offline:
        return lambda name: OfflineSource(name, store)
    return lambda name: RecordingSource(open_source(name, endpoint=manifest.settings.endpoint), store)


@app.command()
@_command
def init() -> None:
    """Create a starter modellock.toml in the project directory."""
    from modellock.ops.project import init_manifest

    # Not the project found upwards: `init` in a subdirectory starts a new project there, like `uv init`.
    path = init_manifest(_options.explicit_project or Path("."))
    _options.console().line(f"Created {path}")


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
ModelOption = Annotated[list[str] | None, typer.Option("--model", help="Only this model; repeatable.")]


@app.command()
@_command
def add(
    repo: Annotated[str, typer.Argument(help="org/name[@REV], hf://org/name[@REV] or a Hub URL.")],
    name: Annotated[str | None, typer.Option(help="Name in the manifest (default: the repo's name).")] = None,
    revision: Annotated[str | None, typer.Option(help="Branch, tag or 40-hex commit (default: main).")] = None,
    include: Annotated[list[str] | None, typer.Option(help="Glob of files to lock; repeatable.")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Glob of files to leave out; repeatable.")] = None,
    layout: Annotated[
        Layout | None, typer.Option("--layout", help="dir (a plain tree) or hf-cache (a Hugging Face cache).")
    ] = None,
    path: Annotated[str | None, typer.Option("--path", help="Where sync installs it (default: models/NAME).")] = None,
    repo_type: Annotated[
        RepoType | None, typer.Option("--repo-type", help="model or dataset (default: model, or as the URL says).")
    ] = None,
    pickle: Annotated[
        Pickle | None, typer.Option("--pickle", help="Pickle-based files: deny (default), scan or allow.")
    ] = None,
    output: FormatOption = Format.text,
    trusted_root: TrustedRootOption = None,
) -> None:
    """Add a model to the manifest and lock it."""
    import dataclasses

    from modellock.ops.lock import lock_project
    from modellock.ops.project import add_model, parse_repo_spec

    spec = parse_repo_spec(repo)
    if repo_type is not None:
        spec = dataclasses.replace(spec, repo_type=repo_type.value)
    extra: dict[str, Any] = {
        "layout": layout.value if layout and layout is not Layout.dir else None,
        "path": path,
        "pickle": pickle.value if pickle else None,
    }
    manifest_path = _options.manifest_path
    lock_path = manifest_path.with_name("modellock.lock")
    before = manifest_path.read_bytes() if manifest_path.exists() else None
    lock_before = lock_path.read_bytes() if lock_path.exists() else None
    if before is None:
        from modellock.ops.project import init_manifest

        init_manifest(_options.project)
    console = _options.console()
    try:
        added = add_model(manifest_path, spec, name=name, revision=revision, include=include, exclude=exclude, **extra)
        manifest, store = _store()
        result = lock_project(
            manifest,
            store,
            progress=console.progress() if output is Format.text else None,
            exclude_pickle_copies=added,
            trust=_trust(manifest, trusted_root, online=True),
            source_factory=_sources(manifest, store),
        )
        excluded = result.auto_excluded.get(added)
        if excluded:
            patterns, files = excluded
            add_model(
                manifest_path,
                spec,
                name=added,
                revision=revision,
                include=include,
                exclude=[*(exclude or []), *patterns],
                replace=True,
                **extra,
            )
            shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
            if output is Format.text:
                console.line(f"Excluding pickle-format weights ({shown}): safetensors weights are present")
    except BaseException:
        # Like `uv add`: a model that cannot be locked leaves the manifest as it was.
        if before is None:
            manifest_path.unlink(missing_ok=True)
        else:
            manifest_path.write_bytes(before)
        if lock_before is None:
            lock_path.unlink(missing_ok=True)
        elif lock_path.read_bytes() != lock_before:
            lock_path.write_bytes(lock_before)
        raise
    if output is Format.json:
        console.json({"ok": True, "added": added, **dataclasses.asdict(result)})
    else:
        console.lock_result(result)


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
            _options.explicit_project = project
        if check:
            failed |= not _check_one(output, remote)
        else:
            _lock_one(upgrade, upgrade_model, dry_run, offline, output, trusted_root, accept_new_signer, allow_unsigned)
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
    import dataclasses

    from modellock.ops.check import check_lock
    from modellock.project.manifest import load_manifest

    console = _options.console()
    manifest = load_manifest(_options.manifest_path)
    result = check_lock(manifest)
    proof = None
    if result.ok and remote and result.lock is not None:
        from modellock.ops.prove import prove_lock

        proof = prove_lock(result.lock, manifest)
        result = proof.check
    name = str(manifest.lock_path) if _options.explicit_project else "modellock.lock"
    if output is Format.json:
        data = {k: v for k, v in dataclasses.asdict(result).items() if k != "lock"}
        if proof is not None:
            data.update(remote_bytes_read=proof.bytes_read, remote_asked=list(proof.asked))
        console.json({"ok": result.ok, "lock": str(manifest.lock_path), **data})
    elif proof is not None:
        console.proof_result(proof, name)
    else:
        console.check_result(result, name)
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
) -> None:
    import dataclasses

    from modellock.ops.lock import lock_project

    console = _options.console()
    manifest, store = _store()
    outcome = lock_project(
        manifest,
        store,
        upgrade_all=upgrade,
        upgrade=upgrade_model or (),
        dry_run=dry_run,
        progress=console.progress() if output is Format.text else None,
        trust=_trust(manifest, trusted_root, online=not offline),
        accept_new_signer=accept_new_signer,
        allow_unsigned=allow_unsigned,
        source_factory=_sources(manifest, store, offline=offline),
    )
    if output is Format.json:
        console.json({"ok": True, "lock": str(manifest.lock_path), **dataclasses.asdict(outcome)})
    else:
        console.lock_result(outcome)


def _read_lock_or_fail(path: Path) -> Any:
    from modellock.errors import ConfigError
    from modellock.project.lockfile import read_sealed_lock

    lock = read_sealed_lock(path)
    if lock is None:
        raise ConfigError("no lock found", file=str(path), hint="run `modellock lock` first")
    return lock


@app.command()
@_command
def sync(
    locked: Annotated[bool, typer.Option("--locked", help="Fail if the lock is stale against the manifest.")] = False,
    frozen: Annotated[bool, typer.Option("--frozen", help="Use the lock as it is; do not re-lock.")] = False,
    offline: Annotated[bool, typer.Option("--offline", help="Use only the store; fail on anything missing.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if anything is out of sync; change nothing.")] = False,
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
) -> None:
    """Install exactly what the lock says into each model's directory."""
    import dataclasses

    from modellock.errors import CHECK_FAILED, CheckFailed, UsageError
    from modellock.ops.sync import sync_lock
    from modellock.store.blobs import open_store
    from modellock.store.linking import LinkMode

    if locked and frozen:
        raise UsageError("--locked and --frozen cannot be combined")
    if reinstall and (dry_run or check):
        raise UsageError("--reinstall cannot be combined with --dry-run or --check")
    console = _options.console()
    lock_path = _options.project / "modellock.lock"
    endpoint = setting_mode = manifest = None
    cert_roots: dict[str, bytes] = {}
    if frozen:
        # The lock is the plan; the manifest's [settings] (store, endpoint, link mode) still say where.
        settings_from = _manifest_settings_only(console)
        store = open_store()
        if settings_from is not None:
            store = open_store(settings_from.settings.store, settings_from.path.parent)
            endpoint, setting_mode = settings_from.settings.endpoint, settings_from.settings.link_mode
            manifest = settings_from
    else:
        from modellock.ops.check import check_lock

        manifest, store = _store()
        endpoint, setting_mode = manifest.settings.endpoint, manifest.settings.link_mode
        cert_roots = _certificate_roots(manifest)
        stale = check_lock(manifest)
        if not stale.ok:
            if locked or offline or check or dry_run:
                if output is Format.text:
                    console.check_result(stale, lock_path.name)
                raise CheckFailed("the lock is stale; --locked, --offline, --check and --dry-run do not re-lock")
            from modellock.ops.lock import lock_project

            relocked = lock_project(
                manifest,
                store,
                progress=console.progress(),
                trust=_trust(manifest, trusted_root, online=True),
                source_factory=_sources(manifest, store),
            )
            if output is Format.text:  # JSON output stays one object on stdout
                console.lock_result(relocked)
    mode_name = link_mode or setting_mode
    if mode_name is not None and mode_name not in {m.value for m in LinkMode}:
        raise UsageError(f"--link-mode must be reflink, hardlink or copy, got {mode_name!r}")
    lock = _read_lock_or_fail(lock_path)
    if not (dry_run or check):
        store.register_lock(lock_path)
    result = sync_lock(
        lock,
        _options.project,
        store,
        models=model or (),
        offline=offline,
        dry_run=dry_run,
        check=check,
        inexact=inexact,
        force=force,
        reinstall=reinstall,
        link_mode=LinkMode(mode_name) if mode_name else None,
        endpoint=endpoint,
        progress=console.progress() if output is Format.text else None,
        trust=_trust(manifest, trusted_root, online=False),
        cert_roots=cert_roots,
        lock_path=lock_path,
    )
    if output is Format.json:
        console.json({"ok": not (check and (result.installed or result.removed)), **dataclasses.asdict(result)})
    else:
        console.sync_result(result)
    if check and (result.installed or result.removed):
        raise typer.Exit(CHECK_FAILED)


def _manifest_settings_only(console: Console) -> Any:
    """The manifest, for its [settings] only (`sync --frozen`); a broken one is ignored with a warning."""
    if not _options.manifest_path.exists():
        return None
    from modellock.project.manifest import load_manifest

    try:
        return load_manifest(_options.manifest_path)
    except ModellockError as exc:
        console.warn(f"--frozen: ignoring [settings] of a manifest that cannot be read: {exc.message}")
        return None


def _certificate_roots(manifest: Any) -> dict[str, bytes]:
    """Root certificates of certificate-mode signatures, read from the paths the manifest names."""
    roots = {}
    for name, spec in manifest.models.items():
        if spec.signature is not None and spec.signature.certificate_chain:
            roots[name] = (manifest.path.parent / spec.signature.certificate_chain).read_bytes()
    return roots


@app.command()
@_command
def verify(
    model: ModelOption = None,
    store_too: Annotated[bool, typer.Option("--store", help="Also re-hash every store blob the lock uses.")] = False,
    output: FormatOption = Format.text,
    trusted_root: TrustedRootOption = None,
) -> None:
    """Re-hash installed files; report missing, modified and extra ones."""
    from modellock.ops.verify import verify_installed
    from modellock.store.blobs import open_store

    lock = _read_lock_or_fail(_options.project / "modellock.lock")
    signed = any(m.signature is not None for m in lock.models)
    # The manifest and the signature machinery only when needed: plain verify stays a fast path.
    manifest = store = check_signature = None
    if signed or store_too:
        manifest = _manifest_if_any()
        store = open_store(*_store_setting(manifest))
    if signed:
        from modellock.ops.signatures import attest_for_sync

        trust = _trust(manifest, trusted_root, online=False)
        roots = _certificate_roots(manifest) if manifest is not None else {}

        def check_signature(locked: Any) -> None:
            attest_for_sync(locked, store, trust, _options.project, roots.get(locked.name))  # type: ignore[arg-type]

    report = verify_installed(
        lock, _options.project, models=model or (), store=store if store_too else None, check_signature=check_signature
    )
    _render_report(report, output, "verify")


@app.command()
@_command
def status(model: ModelOption = None, output: FormatOption = Format.text) -> None:
    """Compare installed files' size, mtime and inode with the install."""

    from modellock.ops.verify import status_installed

    lock = _read_lock_or_fail(_options.project / "modellock.lock")
    _render_report(status_installed(lock, _options.project, models=model or ()), output, "status")


def _render_report(report: Any, output: Format, command: str) -> None:
    """Print a verify/status report; exit 1 when anything differs from the lock."""
    import dataclasses

    from modellock.errors import CHECK_FAILED

    console = _options.console()
    if output is Format.json:
        console.json({**dataclasses.asdict(report), "ok": report.ok})
    else:
        console.report(report, command)
    if not report.ok:
        raise typer.Exit(CHECK_FAILED)


@app.command()
@_command
def scan(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to scan.", show_default=False)],
    pickle: Annotated[str, typer.Option("--pickle", help="deny, scan (accept clean pickles) or allow.")] = "scan",
    remote_code: Annotated[str, typer.Option("--remote-code", help="deny or allow.")] = "deny",
    output: Annotated[ScanFormat, typer.Option("--format", help="Output format.")] = ScanFormat.text,
) -> None:
    """Scan model files without loading them (exit 1 if any is refused)."""
    import dataclasses

    from modellock.errors import CHECK_FAILED, UsageError
    from modellock.ops.scan import scan_paths
    from modellock.project.policy import PICKLE_MODES, REMOTE_CODE_MODES, Policy

    if pickle not in PICKLE_MODES or remote_code not in REMOTE_CODE_MODES:
        raise UsageError("--pickle takes deny, scan or allow; --remote-code takes deny or allow")
    report = scan_paths(paths, Policy(pickle=pickle, remote_code=remote_code))
    console = _options.console()
    if output is ScanFormat.sarif:
        from modellock.report.sarif import to_sarif

        console.json(to_sarif(report))
    elif output is ScanFormat.json:
        console.json({"files": [dataclasses.asdict(d) for d in report.decisions], "refused": len(report.refused)})
    else:
        console.scan_report(report)
    if report.refused:
        raise typer.Exit(CHECK_FAILED)


def _manifest_if_any() -> Any:
    """The project's manifest, or None where there is none (`cache` and `verify` work without one)."""
    from modellock.project.manifest import load_manifest

    return load_manifest(_options.manifest_path) if _options.manifest_path.exists() else None


def _store_setting(manifest: Any = None) -> tuple[str | None, Path | None]:
    """The manifest's store setting and directory, for `default_store_root`."""
    manifest = manifest or _manifest_if_any()
    return (manifest.settings.store, manifest.path.parent) if manifest is not None else (None, None)


cache_app = typer.Typer(
    help="Inspect and maintain the content-addressed store.", no_args_is_help=True, context_settings=_CONTEXT
)
app.add_typer(cache_app, name="cache")


@cache_app.command("dir")
@_command
def cache_dir() -> None:
    """Print the store's location."""
    from modellock.store.blobs import default_store_root

    print(default_store_root(*_store_setting()))


@cache_app.command("verify")
@_command
def cache_verify(output: FormatOption = Format.text) -> None:
    """Re-hash every blob; evict any that no longer match their name."""
    import dataclasses

    from modellock.errors import CHECK_FAILED
    from modellock.ops.cache import verify_store
    from modellock.store.blobs import open_store

    result = verify_store(open_store(*_store_setting()))
    console = _options.console()
    if output is Format.json:
        console.json({"ok": not result.corrupt, **dataclasses.asdict(result)})
    else:
        for name in result.corrupt:
            console.line(f"corrupt, evicted: {name}")
        console.line(f"Checked {result.checked} blobs, {len(result.corrupt)} corrupt")
    if result.corrupt:
        raise typer.Exit(CHECK_FAILED)


@cache_app.command("prune")
@_command
def cache_prune(output: FormatOption = Format.text) -> None:
    """Remove blobs that no registered lock references."""
    import dataclasses

    from modellock.ops.cache import prune_store
    from modellock.store.blobs import open_store
    from modellock.text import human_size

    result = prune_store(open_store(*_store_setting()))
    if output is Format.json:
        _options.console().json({"ok": True, **dataclasses.asdict(result)})
        return
    _options.console().line(
        f"Removed {result.removed} blobs ({human_size(result.freed_bytes)}); "
        f"kept {result.kept} referenced by {len(result.locks)} lock(s)"
    )


def _terminated(signum: int, frame: Any) -> None:
    """SIGTERM stops a run the way Ctrl-C does: downloads keep what arrived, nothing half-installed."""
    _options.signal = signum
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


# Last, once `app` and its helpers exist: the lock-reading commands live in their own module.
from modellock.cli import inspect as _inspect  # noqa: E402, F401
