"""`modellock run -- CMD ARGS…`: check the lock and every installed tree, then run CMD with the lock in force."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modellock.cli.base import app, command, options

if TYPE_CHECKING:
    from modellock.errors import ModellockError
    from modellock.runtime.preflight import Preflight


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@command
def run(
    argv: Annotated[list[str], typer.Argument(help="The command and its arguments, after `--`.", show_default=False)],
    verify: Annotated[
        str, typer.Option("--verify", help="status (size, mtime, inode) or full (re-hash every file).")
    ] = "status",
    isolate: Annotated[
        bool,
        typer.Option("--isolate", help="Start CMD without credentials in its environment and without network."),
    ] = False,
    allow_env: Annotated[
        list[str] | None,
        typer.Option("--allow-env", help="With --isolate: keep this variable (repeatable).", show_default=False),
    ] = None,
) -> None:
    """Refuse on any drift from the lock, then run CMD offline with the guard armed (docs/runtime.md)."""
    from modellock.errors import CheckFailed
    from modellock.runtime.environment import run_environment
    from modellock.runtime.preflight import preflight
    from modellock.runtime.process import CommandNotStarted, run_command
    from modellock.runtime.table import guard_table

    found = preflight(options.project, options.manifest_path, verify)  # type: ignore[arg-type]
    if not found.ok:
        raise CheckFailed(_refusal(found), hint=_hint(found))
    import os

    lock_path = options.project / "modellock.lock"
    table = guard_table(found.lock, options.project, lock_path, found.unlocked)
    env = run_environment(os.environ, table, options.project)
    if allow_env and not isolate:
        from modellock.errors import UsageError

        raise UsageError("--allow-env goes with --isolate")
    if isolate:
        argv, env = _isolated(argv, env, allow_env or [])
    try:
        code = run_command(argv, env)
    except CommandNotStarted as exc:
        options.console().error(_as_error(exc.message))
        raise typer.Exit(exc.exit_code) from None
    raise typer.Exit(code)


def _isolated(argv: list[str], env: dict[str, str], allow: list[str]) -> tuple[list[str], dict[str, str]]:
    from modellock.errors import ModellockError
    from modellock.runtime.isolate import isolated_environment, network_isolation

    prefix = network_isolation()
    if prefix is None:  # fail closed: --isolate promises no network
        raise ModellockError(
            "--isolate: this machine does not allow a new network namespace (`unshare -n` and `unshare -rn` fail)",
            hint="run as root or in a container that may create namespaces, or isolate the network with the "
            "container's own network policy and drop --isolate",
        )
    clean, removed = isolated_environment(env, allow)
    if removed:
        options.console().debug(f"--isolate removed: {', '.join(removed)}")
    return [*prefix, *argv], clean


def _refusal(found: Preflight) -> str:
    lines = []
    if not found.check.ok:
        lines.append("modellock.lock does not match the manifest or has been edited; the command was not started:")
        lines += [f"  - {p.model + ': ' if p.model else ''}{p.message}" for p in found.check.problems]
        return "\n".join(lines)
    assert found.report is not None
    lines.append("the installed models do not match modellock.lock; the command was not started:")
    for m in found.report.models:
        if not m.installed:
            lines.append(f"  - {m.name}: not installed at {m.target}")
            continue
        lines += [f"  - {m.name}: missing {p}" for p in m.missing]
        lines += [f"  - {m.name}: modified {p}" for p in m.modified]
        lines += [f"  - {m.name}: extra {p}" for p in m.extra]
        lines += [f"  - {m.name}: ref {r}" for r in m.refs]
        lines += [f"  - {m.name}: signature: {m.signature}"] if m.signature else []
    return "\n".join(lines)


def _hint(found: Preflight) -> str:
    if not found.check.ok:
        return "run `modellock lock --check` for details, `modellock lock` to update the lock"
    return "run `modellock sync` to restore exactly what the lock says"


def _as_error(message: str) -> ModellockError:
    from modellock.errors import ModellockError

    return ModellockError(message)
