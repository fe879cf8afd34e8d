"""The command line: parse arguments, call an operation, render its result. Nothing else."""

from __future__ import annotations

import enum
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
    rich_markup_mode=None,  # plain help: rendering it with rich costs more than the rest of `--help`
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
    from modellock.ops.attest import TrustSource

    setting = manifest.settings.trusted_root if manifest is not None else None
    explicit = flag or ((manifest.path.parent / Path(setting).expanduser()) if setting else None)
    return TrustSource(explicit, online=online)


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
    trusted_root: TrustedRootOption = None,
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
    console = _options.console()
    try:
        added = add_model(path, spec, name=name, revision=revision, include=include, exclude=exclude)
        manifest, store = _store()
        result = lock_project(
            manifest,
            store,
            progress=console.progress(),
            exclude_pickle_copies=added,
            trust=_trust(manifest, trusted_root, online=True),
        )
        excluded = result.auto_excluded.get(added)
        if excluded:
            patterns, files = excluded
            add_model(
                path,
                spec,
                name=added,
                revision=revision,
                include=include,
                exclude=[*(exclude or []), *patterns],
                replace=True,
            )
            shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
            console.line(f"Excluding pickle-format weights ({shown}): safetensors weights are present")
    except BaseException:
        # Like `uv add`: a model that cannot be locked leaves the manifest as it was.
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(before)
        if lock_before is None:
            lock_path.unlink(missing_ok=True)
        elif lock_path.read_bytes() != lock_before:
            lock_path.write_bytes(lock_before)
        raise
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
    from modellock.manifest import load_manifest

    console = _options.console()
    if check:
        if upgrade or upgrade_model or dry_run:
            raise UsageError("--check cannot be combined with --upgrade, --upgrade-model or --dry-run")
        from modellock.ops.check import check_lock

        manifest = load_manifest(_options.manifest_path)
        result = check_lock(manifest)
        if result.ok and remote and result.lock is not None:
            from modellock.ops.prove import prove_lock

            proof = prove_lock(result.lock, manifest)
            console.proof_result(proof, manifest.lock_path.name)
            if not proof.check.ok:
                raise typer.Exit(CHECK_FAILED)
            return
        console.check_result(result, manifest.lock_path.name)
        if not result.ok:
            raise typer.Exit(CHECK_FAILED)
        return
    if remote:
        raise UsageError("--remote goes with --check")
    from modellock.ops.lock import lock_project

    manifest, store = _store()
    outcome = lock_project(
        manifest,
        store,
        upgrade_all=upgrade,
        upgrade=upgrade_model or (),
        dry_run=dry_run,
        progress=console.progress(),
        trust=_trust(manifest, trusted_root, online=True),
        accept_new_signer=accept_new_signer,
        allow_unsigned=allow_unsigned,
    )
    console.lock_result(outcome)


class Format(str, enum.Enum):
    text = "text"
    json = "json"


class ScanFormat(str, enum.Enum):
    text = "text"
    json = "json"
    sarif = "sarif"


FormatOption = Annotated[Format, typer.Option("--format", help="Output format.")]
ModelOption = Annotated[list[str] | None, typer.Option("--model", help="Only this model; repeatable.")]


def _read_lock_or_fail(path: Path) -> Any:
    from modellock.errors import ConfigError
    from modellock.lockfile import read_sealed_lock

    lock = read_sealed_lock(path)
    if lock is None:
        raise ConfigError("no lock found", file=str(path), hint="run `modellock lock` first")
    return lock


@app.command()
@_command
def sync(
    locked: Annotated[bool, typer.Option("--locked", help="Fail if the lock is stale against the manifest.")] = False,
    frozen: Annotated[bool, typer.Option("--frozen", help="Use the lock as it is; do not read the manifest.")] = False,
    offline: Annotated[bool, typer.Option("--offline", help="Use only the store; fail on anything missing.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if anything is out of sync; change nothing.")] = False,
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
    from modellock.linking import LinkMode
    from modellock.ops.sync import sync_lock
    from modellock.store import Store, default_store_root

    if locked and frozen:
        raise UsageError("--locked and --frozen cannot be combined")
    console = _options.console()
    lock_path = _options.project / "modellock.lock"
    endpoint = setting_mode = manifest = None
    cert_roots: dict[str, bytes] = {}
    if frozen:
        store = Store(default_store_root())
    else:
        from modellock.ops.check import check_lock

        manifest, store = _store()
        endpoint, setting_mode = manifest.settings.endpoint, manifest.settings.link_mode
        cert_roots = _certificate_roots(manifest)
        stale = check_lock(manifest)
        if not stale.ok:
            if locked or offline or check or dry_run:
                console.check_result(stale, lock_path.name)
                raise CheckFailed("the lock is stale; --locked, --offline, --check and --dry-run do not re-lock")
            from modellock.ops.lock import lock_project

            relocked = lock_project(
                manifest, store, progress=console.progress(), trust=_trust(manifest, trusted_root, online=True)
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
        link_mode=LinkMode(mode_name) if mode_name else None,
        endpoint=endpoint,
        progress=console.progress() if output is Format.text else None,
        trust=_trust(manifest, trusted_root, online=False),
        cert_roots=cert_roots,
        lock_path=lock_path,
    )
    if output is Format.json:
        console.json(dataclasses.asdict(result))
    else:
        console.sync_result(result)
    if check and (result.installed or result.removed):
        raise typer.Exit(CHECK_FAILED)


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
    from modellock.store import Store, default_store_root

    lock = _read_lock_or_fail(_options.project / "modellock.lock")
    signed = any(m.signature is not None for m in lock.models)
    # The manifest and the signature machinery only when needed: plain verify stays a fast path.
    manifest = store = check_signature = None
    if signed or store_too:
        manifest = _manifest_if_any()
        store = Store(default_store_root(*_store_setting(manifest)))
    if signed:
        from modellock.ops.attest import attest_for_sync

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
    from modellock.security.policy import PICKLE_MODES, REMOTE_CODE_MODES, Policy

    if pickle not in PICKLE_MODES or remote_code not in REMOTE_CODE_MODES:
        raise UsageError("--pickle takes deny, scan or allow; --remote-code takes deny or allow")
    report = scan_paths(paths, Policy(pickle=pickle, remote_code=remote_code))
    console = _options.console()
    if output is ScanFormat.sarif:
        from modellock.sarif import to_sarif

        console.json(to_sarif(report))
    elif output is ScanFormat.json:
        console.json({"files": [dataclasses.asdict(d) for d in report.decisions], "refused": len(report.refused)})
    else:
        console.scan_report(report)
    if report.refused:
        raise typer.Exit(CHECK_FAILED)


def _manifest_if_any() -> Any:
    """The project's manifest, or None where there is none (`cache` and `verify` work without one)."""
    from modellock.manifest import load_manifest

    return load_manifest(_options.manifest_path) if _options.manifest_path.exists() else None


def _store_setting(manifest: Any = None) -> tuple[str | None, Path | None]:
    """The manifest's store setting and directory, for `default_store_root`."""
    manifest = manifest or _manifest_if_any()
    return (manifest.settings.store, manifest.path.parent) if manifest is not None else (None, None)


cache_app = typer.Typer(help="Inspect and maintain the content-addressed store.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("dir")
@_command
def cache_dir() -> None:
    """Print the store's location."""
    from modellock.store import default_store_root

    print(default_store_root(*_store_setting()))


@cache_app.command("verify")
@_command
def cache_verify() -> None:
    """Re-hash every blob; evict any that no longer match their name."""
    from modellock.errors import CHECK_FAILED
    from modellock.ops.cache import verify_store
    from modellock.store import Store, default_store_root

    result = verify_store(Store(default_store_root(*_store_setting())))
    console = _options.console()
    for name in result.corrupt:
        console.line(f"corrupt, evicted: {name}")
    console.line(f"Checked {result.checked} blobs, {len(result.corrupt)} corrupt")
    if result.corrupt:
        raise typer.Exit(CHECK_FAILED)


@cache_app.command("prune")
@_command
def cache_prune() -> None:
    """Remove blobs that no registered lock references."""
    from modellock.console import human_size
    from modellock.ops.cache import prune_store
    from modellock.store import Store, default_store_root

    result = prune_store(Store(default_store_root(*_store_setting())))
    _options.console().line(
        f"Removed {result.removed} blobs ({human_size(result.freed_bytes)}); "
        f"kept {result.kept} referenced by {len(result.locks)} lock(s)"
    )


def main() -> None:
    app()
