"""Where model files come from: an interface and one module per kind of source."""

from pathlib import Path

from modellock.sources.interface import CardLineage, HttpSource, Refs, RemoteFile, RepoRef, Source

__all__ = ["CardLineage", "HttpSource", "Refs", "RemoteFile", "RepoRef", "Source", "open_source"]


def open_source(
    name: str, *, endpoint: str | None = None, project_dir: Path | None = None, s3_endpoint: str | None = None
) -> Source:
    """The source implementation for `name`, imported only when a command needs the network.

    `project_dir`: where relative local model directories are (default: the working directory);
    `s3_endpoint`: the manifest's S3 endpoint, where AWS's own settings name none.
    """
    if name == "huggingface":
        from modellock.sources.huggingface import HuggingFaceSource

        return HuggingFaceSource(endpoint=endpoint)
    if name == "local":
        from modellock.sources.local import LocalSource

        return LocalSource(project_dir)
    if name == "s3":
        from modellock.sources.s3 import S3Source

        return S3Source(endpoint=s3_endpoint)
    raise ValueError(f"unknown source {name!r}")
