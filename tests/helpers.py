"""Shared test helpers: run the CLI in-process and read results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from modellock.cli.app import app


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str


def cli(*args: str) -> Run:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, result.stderr)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes, to prove nothing changed."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def reseal(lock_path: Path) -> None:
    """Re-seal an edited lock (content digest and seal), as an attacker who knows how they are computed would."""
    from dataclasses import replace

    from modellock.ops.project import write_lock
    from modellock.project.lockfile import Lockfile, content_digest
    from modellock.project.lockread import loads

    models = loads(lock_path.read_text()).models
    write_lock(lock_path, Lockfile(tuple(replace(m, digest=content_digest(m.files)) for m in models)))
