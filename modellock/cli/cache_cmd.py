"""`cache dir | verify | prune`: the store itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from modellock.cli.base import (
    CONTEXT,
    Format,
    FormatOption,
    app,
    command,
    options,
)

if TYPE_CHECKING:  # `--help` and the other commands never import the store
    from modellock.store.blobs import Store


def _store() -> Store:
    from modellock.ops.context import manifest_if_any, store_for

    return store_for(manifest_if_any(options.manifest_path))


cache_app = typer.Typer(
    help="Inspect and maintain the content-addressed store.", no_args_is_help=True, context_settings=CONTEXT
)
app.add_typer(cache_app, name="cache")


@cache_app.command("dir")
@command
def cache_dir() -> None:
    """Print the store's location."""
    print(_store().root)


@cache_app.command("verify")
@command
def cache_verify(output: FormatOption = Format.text) -> None:
    """Re-hash every blob; evict any that no longer match their name."""

    from modellock.errors import CHECK_FAILED
    from modellock.ops.cache import verify_store
    from modellock.report import views

    result = verify_store(_store())
    views.cache_verify().render(output.value, result, options.console())
    if result.corrupt:
        raise typer.Exit(CHECK_FAILED)


@cache_app.command("prune")
@command
def cache_prune(output: FormatOption = Format.text) -> None:
    """Remove blobs that no registered lock references."""

    from modellock.ops.cache import prune_store
    from modellock.report import views

    views.cache_prune().render(output.value, prune_store(_store()), options.console())
