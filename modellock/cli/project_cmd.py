"""`init`, `add` and `remove`: the commands that edit the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modellock.cli.base import (
    Format,
    FormatOption,
    Layout,
    Pickle,
    RepoType,
    TrustedRootOption,
    WithBasesOption,
    app,
    command,
    options,
)


@app.command()
@command
def init() -> None:
    """Create a starter modellock.toml in the project directory."""
    from modellock.ops.project import init_manifest

    # Not the project found upwards: `init` in a subdirectory starts a new project there, like `uv init`.
    path = init_manifest(options.explicit_project or Path("."))
    options.console().line(f"Created {path}")


@app.command()
@command
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
    with_bases: WithBasesOption = False,
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="Pin the signer's public key (PEM): for `model_signing sign key` bundles."),
    ] = None,
    identity: Annotated[
        str | None, typer.Option("--identity", help="Pin the Sigstore signer's identity (with --issuer).")
    ] = None,
    issuer: Annotated[
        str | None, typer.Option("--issuer", help="The OIDC issuer of --identity (e.g. GitHub Actions').")
    ] = None,
    certificate_chain: Annotated[
        Path | None,
        typer.Option("--certificate-chain", help="Pin the root certificates (PEM) of a certificate-signed model."),
    ] = None,
    no_lock: Annotated[
        bool, typer.Option("--no-lock", help="Only add the manifest entry; `lock` or `sync` resolves it later.")
    ] = False,
) -> None:
    """Add a model to the manifest and lock it (and pin who must have signed it)."""

    from modellock.ops.add import AddRequest, add_and_lock
    from modellock.ops.project import parse_repo_spec

    request = AddRequest(
        parse_repo_spec(repo),
        name=name,
        revision=revision,
        include=tuple(include or ()),
        exclude=tuple(exclude or ()),
        layout=layout.value if layout and layout is not Layout.dir else None,
        path=path,
        pickle=pickle.value if pickle else None,
        repo_type=repo_type.value if repo_type else None,
        with_bases=with_bases,
        public_key=public_key,
        identity=identity,
        issuer=issuer,
        certificate_chain=certificate_chain,
    )
    from modellock.report import views

    console = options.console()
    if no_lock:
        from modellock.ops.add import add_without_lock

        added = add_without_lock(options.project, request)
        return views.added_unlocked(options.project / "modellock.toml").render(output.value, added, console)
    progress = console.progress() if output is Format.text else None
    outcome = add_and_lock(options.project, request, trusted_root=trusted_root, progress=progress)
    console.bases_added(outcome.bases_added)
    views.add(options.project / "modellock.lock").render(output.value, outcome, console)


@app.command()
@command
def remove(name: Annotated[str, typer.Argument(help="The model's name in the manifest.")]) -> None:
    """Remove a model from the manifest and the lock."""
    from modellock.ops.project import remove_model

    remove_model(options.manifest_path, name)
    options.console().line(f"Removed {name}")
