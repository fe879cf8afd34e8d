"""Where model files come from: an interface and one module per kind of source."""

from modellock.sources.interface import CardLineage, HttpSource, Refs, RemoteFile, RepoRef, Source

__all__ = ["CardLineage", "HttpSource", "Refs", "RemoteFile", "RepoRef", "Source", "open_source"]


def open_source(name: str, *, endpoint: str | None = None) -> Source:
    """The source implementation for `name`, imported only when a command needs the network."""
    if name == "huggingface":
        from modellock.sources.huggingface import HuggingFaceSource

        return HuggingFaceSource(endpoint=endpoint)
    raise ValueError(f"unknown source {name!r}")
