"""`sign`: write an OpenSSF Model Signing v1.0 signature (model.sig) for locked models or a directory."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modellock.cli.base import Format, FormatOption, app, command, options
from modellock.errors import UsageError

if TYPE_CHECKING:
    pass


@app.command()
@command
def sign(
    targets: Annotated[list[str], typer.Argument(help="Locked model names, or a model directory (or file).")],
    key: Annotated[
        Path | None,
        typer.Option("--key", help="EC private key (PEM, P-256/384/521): key mode, or the certificate's key."),
    ] = None,
    certificate: Annotated[
        Path | None, typer.Option("--certificate", help="Signing certificate (PEM) for --key: certificate mode.")
    ] = None,
    chain: Annotated[
        list[Path] | None, typer.Option("--chain", help="Intermediate (and root) certificates, PEM; repeatable.")
    ] = None,
    password_file: Annotated[
        Path | None, typer.Option("--password-file", help="File holding the private key's password.")
    ] = None,
    identity_token: Annotated[
        str | None,
        typer.Option("--identity-token", help="OIDC token for Sigstore keyless signing (else the ambient one)."),
    ] = None,
    trust_config: Annotated[
        Path | None,
        typer.Option("--trust-config", help="Sigstore ClientTrustConfig JSON for another instance (keyless)."),
    ] = None,
    signature: Annotated[
        Path | None,
        typer.Option(
            "--signature", help="Where to write (one target). Default DIR/model.sig, or signatures/NAME/model.sig."
        ),
    ] = None,
    serialization: Annotated[
        str, typer.Option("--serialization", help="files (one digest per file) or shards (per byte range).")
    ] = "files",
    shard_size: Annotated[int, typer.Option("--shard-size", help="Bytes per shard (shards).")] = 1_000_000_000,
    hash_type: Annotated[str, typer.Option("--hash", help="sha256 (default), blake3 or blake2b.")] = "sha256",
    ignore_path: Annotated[
        list[str] | None,
        typer.Option("--ignore-path", help="Exclude this path (exact, from the model root); repeatable."),
    ] = None,
    output: FormatOption = Format.text,
) -> None:
    """Sign locked models (from the lock's verified digests) or a directory: key, certificate or Sigstore keyless."""
    from modellock.ops.sign import BundleMaker, Keyless, SignOptions, sign_targets

    password = _password(password_file)
    maker: BundleMaker
    if certificate is not None:
        from modellock.signing.sign import certificate_signer

        if key is None:
            raise UsageError("--certificate needs its private key", hint="pass --key KEY.pem with --certificate")
        maker = certificate_signer(key, certificate, tuple(chain or ()), password)
    elif key is not None:
        from modellock.signing.sign import KeySigner, load_private_key

        if chain:
            raise UsageError("--chain goes with --certificate", hint="pass the signing certificate with --certificate")
        maker = KeySigner(load_private_key(key, password))
    else:
        if chain:
            raise UsageError("--chain goes with --certificate and --key")
        maker = Keyless(identity_token, trust_config)
    if (key is not None or certificate is not None) and (identity_token or trust_config):
        raise UsageError("--identity-token and --trust-config are for keyless signing, not with --key")
    sign_options = SignOptions(serialization, hash_type, shard_size, tuple(ignore_path or ()), signature)
    lock, store = _lock_and_store(targets)
    if store is not None:
        with store.held():  # `cache prune` waits: the blobs being signed stay
            result = sign_targets(targets, lock, store, maker, sign_options, options.project)
    else:
        result = sign_targets(targets, lock, store, maker, sign_options, options.project)
    from modellock.report import views

    views.sign().render(output.value, result, options.console())


def _password(path: Path | None) -> bytes | None:
    from modellock.project.smallfile import read_small

    if path is None:
        return None
    try:
        return read_small(path).rstrip(b"\r\n")
    except OSError as exc:
        raise UsageError(
            f"cannot read the password file {path}: {exc.strerror}",
            hint="pass a file that holds only the key's password",
        ) from None


def _lock_and_store(targets: list[str]):  # type: ignore[no-untyped-def]
    """The sealed lock and its store, when a target may be a locked model; (None, None) otherwise."""
    from modellock.ops.context import manifest_if_any, read_lock_to_use, store_for

    lock_path = options.project / "modellock.lock"
    names = [t for t in targets if "/" not in t and not t.startswith(".")]
    if not names or not lock_path.exists():
        return None, None
    lock = read_lock_to_use(lock_path)
    if not any(lock.get(n) is not None for n in names):
        return lock, None
    return lock, store_for(manifest_if_any(options.manifest_path))
