"""`push` (the lock's models to an OCI registry) and `export --oci-layout` (to an OCI image layout)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modellock.cli.base import Format, FormatOption, ModelOption, app, command, options


@app.command()
@command
def push(
    registry: Annotated[
        str, typer.Argument(help="oci://HOST[:PORT]/NAMESPACE (https), or http://127.0.0.1:PORT/NAMESPACE (loopback).")
    ],
    model: ModelOption = None,
    tag_ref: Annotated[
        bool, typer.Option("--tag-ref", help="Also tag each artifact with the ref the manifest asked for.")
    ] = False,
    output: FormatOption = Format.text,
) -> None:
    """Push every locked model, verified in the store, as a ModelPack artifact (tagged by commit)."""
    from modellock.api.project import Project
    from modellock.report import views

    result = Project(options.project).push(registry, models=model or (), tag_ref=tag_ref).detail
    views.push().render(output.value, result, options.console())


def export_layout(root: Path, models: tuple[str, ...], output: Format) -> None:
    """`export --oci-layout DIR` (called from `export`)."""
    from modellock.ops.context import manifest_if_any, read_lock_to_use, store_for
    from modellock.ops.oci_layout import export_layout as write
    from modellock.report import views

    lock = read_lock_to_use(options.project / "modellock.lock")
    store = store_for(manifest_if_any(options.manifest_path))
    with store.held():
        result = write(lock, store, root, models=models)
    views.oci_layout(root).render(output.value, result, options.console())
