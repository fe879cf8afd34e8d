"""`modellock tree` and `modellock why`: the lineage of the lock, read offline from the lock alone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modellock.cli.base import Format, FormatOption, app, command, options

if TYPE_CHECKING:
    from modellock.project.lockfile import Lockfile

DepthOption = Annotated[int | None, typer.Option("--depth", "-d", help="Show this many levels below each root.")]


@app.command()
@command
def tree(
    invert: Annotated[
        bool, typer.Option("--invert", "-i", help="Bases at the top, and below them what builds on them.")
    ] = False,
    depth: DepthOption = None,
    output: FormatOption = Format.text,
) -> None:
    """Show the locked models and their bases (adapters, fine-tunes, quantizations, merges)."""
    from modellock.ops.tree import model_tree
    from modellock.report import views

    views.tree().render(output.value, model_tree(_lock(), invert=invert, depth=depth), options.console())


@app.command()
@command
def why(
    name: Annotated[str, typer.Argument(help="A locked model's name.")],
    depth: DepthOption = None,
    output: FormatOption = Format.text,
) -> None:
    """Say which locked models need NAME as their base (and which need those)."""
    from modellock.ops.tree import why as why_tree
    from modellock.report import views

    views.why(name).render(output.value, why_tree(_lock(), name, depth), options.console())


def _lock() -> Lockfile:
    from modellock.ops.context import read_lock_to_use
    from modellock.project.discover import LOCK_NAME

    return read_lock_to_use(options.project / LOCK_NAME)
